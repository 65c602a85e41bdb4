/**
 * The portal's source and sink on AWS: the curated bucket in (listed by
 * prefix, a day's files downloaded to scratch only when they are read), the
 * portal bucket out. Thin adapters over S3.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { filesSignature, type PortalSink, type PortalSource } from '../../publish/portal.ts';
import { listPlaces } from './places-s3.ts';
import { S3Partitions } from './s3-partitions.ts';

/** How long browsers and CloudFront may keep a portal object: the job rewrites the portal every hour. */
export const PORTAL_CACHE_CONTROL = 'public, max-age=300';

/** The first and last possible partition dates: every day a dataset has. */
const ALL_DAYS = ['0000-01-01', '9999-12-31'] as const;

/** Curated files of the curated bucket; a fetched day is downloaded under `scratch` and removed on release. */
export function s3PortalSource(client: S3Client, curatedBucket: string, scratch: string): PortalSource {
  const partitions = new S3Partitions(client, curatedBucket);
  return {
    async days(datasetId) {
      const listed = await partitions.list(datasetId, ...ALL_DAYS);
      return listed.map((p) => ({ day: p.dt, signature: filesSignature(p.files.map((f) => ({ name: f.name, bytes: f.bytes, version: f.modifiedAt.toISOString() }))) }));
    },
    async fetch(datasetId, day) {
      const dir = join(scratch, datasetId, day);
      await mkdir(dir, { recursive: true });
      const [partition] = await partitions.list(datasetId, day, day);
      const files: string[] = [];
      try {
        for (const file of partition?.files ?? []) files.push(await partitions.fetch(datasetId, day, file.name, dir));
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
      return { files, release: () => rm(dir, { recursive: true, force: true }) };
    },
    places: (datasetIds) => listPlaces(client, curatedBucket, datasetIds),
  };
}

/** The portal bucket. */
export function s3PortalSink(client: S3Client, portalBucket: string): PortalSink {
  const put = (path: string, body: Buffer | string, contentType: string) =>
    client.send(new PutObjectCommand({ Bucket: portalBucket, Key: path, Body: body, ContentType: contentType, CacheControl: PORTAL_CACHE_CONTROL }));
  const remove = async (keys: readonly string[]) => {
    for (let i = 0; i < keys.length; i += 1000) {
      const Objects = keys.slice(i, i + 1000).map((Key) => ({ Key }));
      const { Errors } = await client.send(new DeleteObjectsCommand({ Bucket: portalBucket, Delete: { Objects, Quiet: true } }));
      if (Errors?.length) throw new Error(`could not remove ${Errors.length} portal objects: ${Errors.map((e) => `${e.Key}: ${e.Code}`).join('; ')}`);
    }
  };
  return {
    putFile: async (path, file, contentType) => {
      await put(path, await readFile(file), contentType);
    },
    putText: async (path, text, contentType) => {
      await put(path, text, contentType);
    },
    async getText(path) {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: portalBucket, Key: path }));
        return await response.Body?.transformToString('utf8');
      } catch (error) {
        if (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound')) return undefined;
        throw error;
      }
    },
    remove: async (paths) => {
      if (paths.length > 0) await remove(paths);
    },
    async removePrefix(prefix) {
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: portalBucket, Prefix: prefix, ContinuationToken: token }));
        await remove((page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : [])));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
  };
}
