/**
 * The compaction Lambda with S3 mocked at the client level: per-object
 * curated files the real transform wrote, compacted in the bucket by the
 * handler. A redelivery in two raw objects becomes one row, a replay after
 * compaction adds nothing (and is not even read), retention counts from
 * arrival, and a partition that fails leaves its files as they were.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { getDataset } from '../../datasets/index.ts';
import { quoteString } from '../../functions/core/columns.ts';
import { compactionManifestKey, parseManifest } from '../../functions/core/compaction.ts';
import { readCompactionConfig, CompactionConfigError } from '../../functions/compaction/config.ts';
import { airReading, arrivalLine, tempDir } from '../helpers/fixtures.ts';
import { TransformHarness } from '../helpers/transform.ts';

const CURATED = 'datastroom-test-curated';
const s3 = mockClient(S3Client);
const air = getDataset('air_quality');
const anpr = getDataset('anpr_passage');

/** The bucket as the mock sees it. */
const objects = new Map<string, { body: Buffer; modified: Date }>();
const failingGets = new Set<string>();

// Four days before the run: past the settle time and the longest wait, within the lateness window.
const DT = new Date(Date.now() - 4 * 86_400_000).toISOString().slice(0, 10);
const partition = `curated/air_quality/dt=${DT}/`;

let handler: (event: unknown) => Promise<{ partitions: number; duplicates: number; expired: number; filesRemoved: number }>;
const logged: string[] = [];
let harness: TransformHarness;

/** The curated file the real transform writes for a raw object of these lines. */
async function fragment(name: string, lines: string[]): Promise<Buffer> {
  const run = await harness.run(air, lines, { name });
  const [bytes] = [...run.bytes.entries()].filter(([k]) => k.startsWith('curated/')).map(([, b]) => b);
  return bytes!;
}

const line = (sensor: string, at: string, receivedAt: string) =>
  arrivalLine({ dataset: air.id, sensor, payload: airReading(at), receivedAt: new Date(receivedAt) });
const r1 = line('aq-1', `${DT}T10:00:00Z`, `${DT}T10:00:05Z`);
const r1again = line('aq-1', `${DT}T10:00:00Z`, `${DT}T10:00:09Z`);
const r2 = line('aq-2', `${DT}T10:00:00Z`, `${DT}T10:00:06Z`);
const r3 = line('aq-3', `${DT}T10:01:00Z`, `${DT}T10:01:05Z`);
const idOf = (l: string) => JSON.parse(l).messageId as string;

const stored = (prefix: string) => [...objects.keys()].filter((k) => k.startsWith(`${CURATED}/${prefix}`)).map((k) => k.slice(CURATED.length + 1)).sort();

/** The rows of the partition's Parquet objects, read back with DuckDB. */
async function rows(): Promise<{ message_id: string; received_at: string }[]> {
  const dir = await tempDir();
  const files: string[] = [];
  for (const key of stored(partition)) {
    const file = join(dir, key.split('/').at(-1)!);
    await writeFile(file, objects.get(`${CURATED}/${key}`)!.body);
    files.push(file);
  }
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const reader = await conn.runAndReadAll(
    `SELECT message_id, CAST(received_at AS VARCHAR) AS received_at FROM read_parquet([${files.map(quoteString).join(', ')}]) ORDER BY 1, 2`,
  );
  conn.closeSync();
  db.closeSync();
  return reader.getRowObjectsJS() as { message_id: string; received_at: string }[];
}

beforeAll(async () => {
  vi.spyOn(console, 'log').mockImplementation((l: string) => void logged.push(l));
  vi.spyOn(console, 'error').mockImplementation((l: string) => void logged.push(l));
  Object.assign(process.env, { CURATED_BUCKET: CURATED, AWS_REGION: 'eu-west-1', DUCKDB_MEMORY_MB: '256' });
  ({ handler } = await import('../../functions/compaction/handler.ts'));
  harness = await TransformHarness.create();
});
afterAll(() => {
  harness.close();
  vi.restoreAllMocks();
  s3.restore();
});

beforeEach(() => {
  s3.reset();
  objects.clear();
  failingGets.clear();
  logged.length = 0;
  s3.on(ListObjectsV2Command).callsFake((input: { Bucket: string; Prefix?: string; StartAfter?: string }) => {
    const keys = [...objects.keys()]
      .filter((k) => k.startsWith(`${input.Bucket}/`))
      .map((k) => k.slice(input.Bucket.length + 1))
      .filter((k) => k.startsWith(input.Prefix ?? '') && k > (input.StartAfter ?? ''))
      .sort();
    return { Contents: keys.map((Key) => ({ Key, LastModified: objects.get(`${input.Bucket}/${Key}`)!.modified, Size: objects.get(`${input.Bucket}/${Key}`)!.body.length })), IsTruncated: false };
  });
  s3.on(GetObjectCommand).callsFake((input: { Bucket: string; Key: string }) => {
    const object = objects.get(`${input.Bucket}/${input.Key}`);
    if (failingGets.has(input.Key)) throw Object.assign(new Error('InternalError'), { name: 'InternalError' });
    if (!object) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
    return { Body: Object.assign(Readable.from([object.body]), { transformToString: async () => object.body.toString('utf8') }) };
  });
  s3.on(PutObjectCommand).callsFake((input: { Bucket: string; Key: string; Body: Buffer | string }) => {
    objects.set(`${input.Bucket}/${input.Key}`, { body: Buffer.from(input.Body), modified: new Date() });
    return {};
  });
  s3.on(DeleteObjectsCommand).callsFake((input: { Bucket: string; Delete: { Objects: { Key: string }[] } }) => {
    for (const { Key } of input.Delete.Objects) objects.delete(`${input.Bucket}/${Key}`);
    return {};
  });
});

const put = (key: string, body: Buffer, modified = new Date(Date.now() - 3 * 86_400_000)) => objects.set(`${CURATED}/${key}`, { body, modified });

describe('the compaction handler', () => {
  it('turns a redelivery in two raw objects into one row (the first arrival), and a replay afterwards adds nothing', async () => {
    const a = await fragment('obj-a', [r1, r2]);
    const b = await fragment('obj-b', [r1again, r3]);
    put(`${partition}obj-a.parquet`, a);
    put(`${partition}obj-b.parquet`, b);

    const summary = await handler({});
    expect(summary).toMatchObject({ partitions: 1, duplicates: 1, filesRemoved: 2, expired: 0 });
    expect(stored(partition)).toEqual([`${partition}compacted-${DT}.parquet`]);
    expect(await rows()).toEqual(
      [
        { message_id: idOf(r1), received_at: `${DT} 10:00:05` },
        { message_id: idOf(r2), received_at: `${DT} 10:00:06` },
        { message_id: idOf(r3), received_at: `${DT} 10:01:05` },
      ].sort((x, y) => x.message_id.localeCompare(y.message_id)),
    );
    const manifest = parseManifest('m', objects.get(`${CURATED}/${compactionManifestKey(air.id, DT)}`)!.body.toString());
    expect(manifest.sources).toEqual(['obj-a', 'obj-b']);
    // The manifest is written after the new file and before the old ones go.
    const order = s3.calls().map((c) => c.args[0].constructor.name).filter((n) => n !== 'GetObjectCommand' && n !== 'ListObjectsV2Command');
    expect(order).toEqual(['PutObjectCommand', 'PutObjectCommand', 'DeleteObjectsCommand']);

    // The transform runs obj-b again (a redelivered event, a redrive): its file is back.
    const before = await rows();
    put(`${partition}obj-b.parquet`, b);
    s3.resetHistory();
    const again = await handler({});
    expect(again).toMatchObject({ partitions: 1, duplicates: 0, filesRemoved: 1 });
    expect(stored(partition)).toEqual([`${partition}compacted-${DT}.parquet`]);
    expect(await rows()).toEqual(before);
    // Removed unread, and the compacted file was not rewritten.
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key)).toEqual([compactionManifestKey(air.id, DT)]);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('leaves a partition written to within the settle time, and today’s, for a later run', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    put(`curated/air_quality/dt=${today}/obj-a.parquet`, await fragment('obj-a', [r1]));
    put(`curated/air_quality/dt=${yesterday}/obj-b.parquet`, await fragment('obj-b', [r2]), new Date());
    expect(await handler({})).toMatchObject({ partitions: 0 });
    expect(stored('curated/')).toEqual([`curated/air_quality/dt=${today}/obj-a.parquet`, `curated/air_quality/dt=${yesterday}/obj-b.parquet`].sort());
  });

  it('removes compacted files once their readings’ retention, counted from arrival, has passed, and only those', async () => {
    const days = anpr.retention.curatedDays;
    const arrived = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
    // Arrived days + 1 days ago: its per-object files would be gone by now. Arrived days - 1 days ago: not yet.
    const gone = `curated/anpr_passage/dt=${arrived(days + 2)}/compacted-${arrived(days + 1)}.parquet`;
    const kept = `curated/anpr_passage/dt=${arrived(days)}/compacted-${arrived(days - 1)}.parquet`;
    // Rewritten yesterday (a late reading of the same arrival date): its object is young, its readings are not.
    put(gone, Buffer.from('not read'), new Date(Date.now() - 86_400_000));
    put(kept, Buffer.from('not read'));
    expect(await handler({})).toMatchObject({ expired: 1 });
    expect(stored('curated/anpr_passage/')).toEqual([kept]);
  });

  it('fails the run when a partition cannot be compacted, leaving its files, after doing the others', async () => {
    const other = new Date(Date.now() - 5 * 86_400_000).toISOString().slice(0, 10);
    put(`${partition}obj-a.parquet`, await fragment('obj-a', [r1]));
    put(`curated/air_quality/dt=${other}/obj-c.parquet`, await fragment('obj-c', [r3]));
    failingGets.add(`${partition}obj-a.parquet`);
    await expect(handler({})).rejects.toThrow(new RegExp(`^1 partition\\(s\\) could not be compacted: air_quality dt=${DT}: InternalError`));
    expect(stored(partition)).toEqual([`${partition}obj-a.parquet`]);
    // r3 arrived on DT: its group is named by its arrival date.
    expect(stored(`curated/air_quality/dt=${other}/`)).toEqual([`curated/air_quality/dt=${other}/compacted-${DT}.parquet`]);
    expect(logged.some((l) => /"level":"error","message":"compaction failed"/.test(l))).toBe(true);
    const metric = JSON.parse(logged.find((l) => l.startsWith('{"_aws"'))!);
    expect(metric).toMatchObject({ PartitionsCompacted: 1, PartitionsFailed: 1 });
  });
});

describe('the compaction function’s configuration', () => {
  it('fails fast, naming the missing bucket; reads the policy from the environment', async () => {
    expect(() => readCompactionConfig({})).toThrow(CompactionConfigError);
    expect(() => readCompactionConfig({})).toThrow(/CURATED_BUCKET/);
    expect(readCompactionConfig({ CURATED_BUCKET: 'c', SETTLE_MINUTES: '5' }).policy).toMatchObject({ settleMinutes: 5, targetFileMb: 128 });
    expect(await readFile(join(import.meta.dirname, '../../functions/compaction/handler.ts'), 'utf8')).not.toMatch(/aws-cdk-lib/);
  });
});
