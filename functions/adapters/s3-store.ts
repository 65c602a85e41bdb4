import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ObjectStore } from '../core/store.ts';

/** The buckets the zones live in: raw in one, curated and quarantine in the other. */
export interface ZoneBucketNames {
  readonly raw: string;
  readonly curated: string;
}

/**
 * An S3 client for the environment: AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3)
 * points it at any S3-compatible endpoint (LocalStack, MinIO, s3rver), which
 * then gets path-style addressing and checksums only where S3 requires them;
 * AWS_S3_FORCE_PATH_STYLE=true forces path style.
 */
export function s3ClientFromEnv(env: NodeJS.ProcessEnv = process.env): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const forcePathStyle = env.AWS_S3_FORCE_PATH_STYLE === undefined ? endpoint !== undefined : env.AWS_S3_FORCE_PATH_STYLE === 'true';
  return new S3Client({
    ...(endpoint
      ? {
          endpoint,
          // Many S3-compatible servers cannot read the chunked trailing checksums the SDK sends by default.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }
      : {}),
    forcePathStyle,
  });
}

/** The zones in S3. Keys keep their zone prefix; the zone decides the bucket. */
export class S3ObjectStore implements ObjectStore {
  constructor(
    private readonly client: S3Client,
    private readonly buckets: ZoneBucketNames,
  ) {}

  /** The bucket holding a key. */
  bucketOf(key: string): string {
    return key.startsWith('raw/') ? this.buckets.raw : this.buckets.curated;
  }

  async fetch(key: string, scratch: string): Promise<string> {
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucketOf(key), Key: key }));
    if (!(response.Body instanceof Readable)) throw new Error(`s3://${this.bucketOf(key)}/${key}: no readable body`);
    // The name keeps its extension (.jsonl.gz): the reader decompresses by it.
    const file = join(scratch, basename(key));
    await pipeline(response.Body, createWriteStream(file));
    return file;
  }

  /** Keys under a prefix, across every page. */
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucketOf(prefix), Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async put(key: string, file: string): Promise<void> {
    const { size } = await stat(file);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucketOf(key), Key: key, Body: createReadStream(file), ContentLength: size }),
    );
  }
}
