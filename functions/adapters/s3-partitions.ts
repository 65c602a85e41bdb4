import { createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { compactionManifestKey, parseManifest, type CompactionManifest, type PartitionFile } from '../core/compaction.ts';
import { zonePrefix } from '../core/keys.ts';

/** A curated partition as listed in S3. */
export interface ListedPartition {
  readonly dt: string;
  readonly files: PartitionFile[];
}

const PARTITION_KEY = /^curated\/[a-z_][a-z0-9_]*\/dt=(\d{4}-\d{2}-\d{2})\/([^/]+\.parquet)$/;

/** The curated partitions of a dataset in the curated bucket: listing, reading, writing and removing their files. */
export class S3Partitions {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  /** The Parquet files of a dataset's partitions from `fromDt` to `toDt` (inclusive), by partition. */
  async list(datasetId: string, fromDt: string, toDt: string): Promise<ListedPartition[]> {
    const prefix = `${zonePrefix('curated', datasetId)}dt=`;
    const byDt = new Map<string, PartitionFile[]>();
    let token: string | undefined;
    // Keys sort by date: the listing starts just before the first day and stops after the last.
    const startAfter = `${prefix}${fromDt}`;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, StartAfter: token ? undefined : startAfter, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        const m = PARTITION_KEY.exec(object.Key ?? '');
        if (!m) continue;
        const [, dt = '', name = ''] = m;
        if (dt > toDt) return [...byDt].map(([d, files]) => ({ dt: d, files }));
        if (dt < fromDt) continue;
        const files = byDt.get(dt) ?? [];
        files.push({ name, modifiedAt: object.LastModified ?? new Date(0), bytes: object.Size ?? 0 });
        byDt.set(dt, files);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return [...byDt].map(([dt, files]) => ({ dt, files }));
  }

  /** Downloads a partition's file into a directory; returns its path. */
  async fetch(datasetId: string, dt: string, name: string, dir: string): Promise<string> {
    const key = `${zonePrefix('curated', datasetId)}dt=${dt}/${name}`;
    const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    if (!(response.Body instanceof Readable)) throw new Error(`s3://${this.bucket}/${key}: no readable body`);
    const file = join(dir, name);
    await pipeline(response.Body, createWriteStream(file));
    return file;
  }

  /** Stores a local file as a partition's file, replacing one of that name (readers see the old object or the new). */
  async put(datasetId: string, dt: string, name: string, file: string): Promise<void> {
    const { size } = await stat(file);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: `${zonePrefix('curated', datasetId)}dt=${dt}/${name}`, Body: await readFile(file), ContentLength: size }),
    );
  }

  /** Removes files of a partition, a thousand per request. */
  async remove(datasetId: string, dt: string, names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += 1000) {
      const Objects = names.slice(i, i + 1000).map((n) => ({ Key: `${zonePrefix('curated', datasetId)}dt=${dt}/${n}` }));
      const { Errors } = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects, Quiet: true } }));
      if (Errors?.length) throw new Error(`could not remove ${Errors.length} objects of ${datasetId} dt=${dt}: ${Errors.map((e) => `${e.Key}: ${e.Code}`).join('; ')}`);
    }
  }

  /** A partition's manifest; undefined where it was never compacted. */
  async manifest(datasetId: string, dt: string): Promise<CompactionManifest | undefined> {
    const key = compactionManifestKey(datasetId, dt);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return parseManifest(key, (await response.Body?.transformToString('utf8')) ?? '');
    } catch (error) {
      if (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NotFound')) return undefined;
      throw error;
    }
  }

  async putManifest(manifest: CompactionManifest): Promise<void> {
    const body = `${JSON.stringify(manifest)}\n`;
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: compactionManifestKey(manifest.dataset, manifest.dt), Body: body, ContentType: 'application/json' }),
    );
  }
}
