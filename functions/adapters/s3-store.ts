import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ObjectStore } from '../core/store.ts';

/** The buckets the zones live in: raw in one, curated and quarantine in the other. */
export interface ZoneBucketNames {
  readonly raw: string;
  readonly curated: string;
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

  async put(key: string, file: string): Promise<void> {
    const { size } = await stat(file);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucketOf(key), Key: key, Body: createReadStream(file), ContentLength: size }),
    );
  }
}
