/**
 * The delivery stream's side of the rehearsal: records shaped as the topic
 * rule emits them, put through moto's Firehose, and what moto lacks of
 * Firehose's S3 delivery bridged, and only that.
 */
import { gzipSync } from 'node:zlib';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PutRecordBatchCommand, type FirehoseClient } from '@aws-sdk/client-firehose';
import { z } from 'zod';
import { messageIdFor, topicFor } from '../../../functions/core/envelope.ts';

/** One message as a sensor publishes it. */
export interface Publication {
  readonly datasetId: string;
  readonly sensorId: string;
  /** The MQTT payload: a reading object, or raw text. */
  readonly payload: unknown;
  readonly receivedAt: Date;
}

/**
 * The columns the topic rule's SELECT produces, each with how the rule
 * computes it; the rehearsal checks these names against the synthesized
 * rule's SQL, so a change to the rule cannot pass unnoticed.
 */
const RULE_COLUMNS = {
  // substring(sha256(concat(topic(), encode(*, 'base64'))), 0, 32): the local ingest's message id.
  messageId: (p: Publication, bytes: Buffer) => messageIdFor(topicFor(p.datasetId, p.sensorId), bytes),
  // topic(3)
  sensorId: (p: Publication) => p.sensorId,
  // parse_time("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", timestamp(), "UTC")
  receivedAt: (p: Publication) => p.receivedAt.toISOString(),
  // encode(*, 'base64')
  payloadBase64: (_p: Publication, bytes: Buffer) => bytes.toString('base64'),
} as const;

/** The aliases of a topic rule's SELECT list, in order. */
export function ruleColumns(sql: string): string[] {
  const select = /^\s*SELECT\s+([\s\S]*?)\s+FROM\s/i.exec(sql)?.[1];
  if (!select) throw new Error(`not a SELECT ... FROM rule: ${sql}`);
  return [...select.matchAll(/\bAS\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:,|$)/gi)].map((m) => m[1]!);
}

/** The names the rehearsal computes the rule's columns under. */
export const REHEARSED_RULE_COLUMNS = Object.keys(RULE_COLUMNS);

/** The record the topic rule hands its Firehose action for a publication, with the action's separator. */
export function ruleRecord(publication: Publication, separator: string): Uint8Array {
  const bytes = typeof publication.payload === 'string' ? Buffer.from(publication.payload) : Buffer.from(JSON.stringify(publication.payload));
  const record = Object.fromEntries(Object.entries(RULE_COLUMNS).map(([name, compute]) => [name, compute(publication, bytes)]));
  return Buffer.from(JSON.stringify(record) + separator);
}

/** Puts records through a delivery stream in one PutRecordBatch; fails unless every record was accepted. */
export async function putRecordBatch(firehose: FirehoseClient, streamName: string, records: readonly Uint8Array[]): Promise<void> {
  const response = await firehose.send(new PutRecordBatchCommand({ DeliveryStreamName: streamName, Records: records.map((Data) => ({ Data })) }));
  if ((response.FailedPutCount ?? 0) > 0) throw new Error(`${response.FailedPutCount} of ${records.length} records refused by ${streamName}`);
}

/** The S3 destination of a delivery stream, as the template sets it. */
export const S3Destination = z.looseObject({
  BucketARN: z.string(),
  Prefix: z.string(),
  CompressionFormat: z.enum(['GZIP', 'UNCOMPRESSED']),
  FileExtension: z.string().optional(),
});
export type S3Destination = z.infer<typeof S3Destination>;

/** An object moto's Firehose wrote, and where the service would have written it. */
export interface BridgedObject {
  readonly motoKey: string;
  readonly key: string;
  readonly arrival: Date;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Evaluates a prefix's !{timestamp:...} expressions as Firehose does: the arrival time in UTC. */
export function evaluatePrefix(prefix: string, arrival: Date): string {
  return prefix.replace(/!\{([^}:]+):([^}]*)\}/g, (expression, namespace: string, format: string) => {
    if (namespace !== 'timestamp') throw new Error(`${expression}: only !{timestamp:...} is bridged`);
    const parts: Record<string, string> = {
      yyyy: String(arrival.getUTCFullYear()),
      MM: String(arrival.getUTCMonth() + 1).padStart(2, '0'),
      dd: String(arrival.getUTCDate()).padStart(2, '0'),
      HH: String(arrival.getUTCHours()).padStart(2, '0'),
      mm: String(arrival.getUTCMinutes()).padStart(2, '0'),
      ss: String(arrival.getUTCSeconds()).padStart(2, '0'),
    };
    return format.replace(/yyyy|MM|dd|HH|mm|ss/g, (token) => parts[token]!);
  });
}

/**
 * Moves each object moto's Firehose wrote for a stream to where, and in the
 * form, Firehose itself writes it. moto 5.2.1 writes every PutRecordBatch at
 * once as one object, under the prefix taken literally plus its own
 * YYYY/MM/DD/HH/, uncompressed and without the file extension; Firehose
 * evaluates the prefix's expressions (adding no time path of its own when the
 * prefix has them), compresses as configured and adds the extension. Buffering
 * is not bridged: each batch stands for one buffer flush. The records' bytes
 * are not touched.
 */
export async function bridgeDeliveries(s3: S3Client, streamName: string, destination: S3Destination): Promise<BridgedObject[]> {
  const bucket = destination.BucketARN.replace(/^arn:[^:]+:s3:::/, '');
  const written = new RegExp(
    `^${escape(destination.Prefix)}\\d{4}/\\d{2}/\\d{2}/\\d{2}/(${escape(streamName)}-\\d+-(\\d{4})-(\\d{2})-(\\d{2})-(\\d{2})-(\\d{2})-(\\d{2})-[0-9a-f-]+)$`,
  );
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: destination.Prefix }));
  const bridged: BridgedObject[] = [];
  for (const { Key: motoKey } of listed.Contents ?? []) {
    const m = motoKey ? written.exec(motoKey) : null;
    if (!motoKey || !m) throw new Error(`s3://${bucket}/${motoKey}: not an object moto's Firehose writes for ${streamName}`);
    const arrival = new Date(Date.UTC(Number(m[2]), Number(m[3]) - 1, Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7])));
    const key = `${evaluatePrefix(destination.Prefix, arrival)}${m[1]}${destination.FileExtension ?? ''}`;
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: motoKey }));
    const bytes = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: destination.CompressionFormat === 'GZIP' ? gzipSync(bytes) : bytes }));
    // The raw bucket is versioned: remove moto's version itself, not behind a delete marker.
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: motoKey, VersionId: object.VersionId }));
    bridged.push({ motoKey, key, arrival });
  }
  return bridged;
}
