/**
 * Sensors' places in the curated bucket: one object per sensor under
 * curated/_places/<dataset>/, written by `sensors register`, removed by
 * `sensors revoke`, read by the publishing job. A thin adapter over S3.
 */
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parsePlace, placeKey, placesPrefix, placeText, type SensorPlace } from '../core/places.ts';

/** Stores a sensor's place. */
export async function putPlace(s3: S3Client, bucket: string, place: SensorPlace): Promise<string> {
  const key = placeKey(place.dataset, place.sensor_id);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: placeText(place), ContentType: 'application/json' }));
  return key;
}

/** Removes a sensor's place (S3 answers a missing one as removed too). */
export async function deletePlace(s3: S3Client, bucket: string, datasetId: string, sensorId: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: placeKey(datasetId, sensorId) }));
}

/** The places of the given datasets; an object that is not a place is skipped. */
export async function listPlaces(s3: S3Client, bucket: string, datasetIds: readonly string[]): Promise<SensorPlace[]> {
  const places: SensorPlace[] = [];
  for (const datasetId of datasetIds) {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: placesPrefix(datasetId), ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        if (!object.Key?.endsWith('.json')) continue;
        const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
        try {
          const place = parsePlace(object.Key, (await body.Body?.transformToString('utf8')) ?? '');
          if (place.dataset === datasetId) places.push(place);
        } catch {
          // Not a place: skipped, the others still count.
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  return places;
}
