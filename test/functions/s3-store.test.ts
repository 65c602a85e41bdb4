/**
 * The S3 adapter against a real S3-protocol server on loopback (s3rver), the
 * way it would run against LocalStack or MinIO: AWS_ENDPOINT_URL and
 * path-style addressing.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import S3rver from 's3rver';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getDataset } from '../../datasets/index.ts';
import { s3ClientFromEnv, S3ObjectStore } from '../../functions/adapters/s3-store.ts';
import { createTransformEngine } from '../../functions/core/engine.ts';
import { processRawObject } from '../../functions/core/process.ts';
import { airReading, arrivalLine, TEST_KEY, tempDir } from '../helpers/fixtures.ts';

let server: S3rver;
let store: S3ObjectStore;
const env: NodeJS.ProcessEnv = {};

beforeAll(async () => {
  server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: await tempDir('s3rver-', 'file'),
    configureBuckets: [{ name: 'datastroom-test-raw' }, { name: 'datastroom-test-curated' }],
  });
  const { port } = await server.run();
  Object.assign(env, { AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
  Object.assign(process.env, env);
  store = new S3ObjectStore(s3ClientFromEnv(env), { raw: 'datastroom-test-raw', curated: 'datastroom-test-curated' });
});
afterAll(async () => {
  await server.close();
});

describe('the S3 adapter on an S3-compatible endpoint', () => {
  it('uses path-style addressing when an endpoint is set, and not otherwise', async () => {
    expect(await s3ClientFromEnv(env).config.forcePathStyle).toBe(true);
    expect(await s3ClientFromEnv({}).config.forcePathStyle).toBe(false);
    expect(await s3ClientFromEnv({ AWS_S3_FORCE_PATH_STYLE: 'true' }).config.forcePathStyle).toBe(true);
  });

  it('writes, reads back, lists, and overwrites on a replayed write of the same key', async () => {
    const dir = await tempDir();
    const key = 'curated/noise/dt=2026-11-29/obj-1.parquet';
    await writeFile(join(dir, 'a'), 'first version');
    await store.put(key, join(dir, 'a'));
    expect(await readFile(await store.fetch(key, dir), 'utf8')).toBe('first version');
    await writeFile(join(dir, 'b'), 'replayed version');
    await store.put(key, join(dir, 'b'));
    expect(await store.list('curated/noise/')).toEqual([key]);
    expect(await readFile(await store.fetch(key, await tempDir()), 'utf8')).toBe('replayed version');
    expect(await store.list('quarantine/')).toEqual([]);
  });

  it('routes the raw zone to the raw bucket and the others to the curated bucket', () => {
    expect(store.bucketOf('raw/noise/dt=2026-11-29/x.jsonl.gz')).toBe('datastroom-test-raw');
    expect(store.bucketOf('curated/noise/dt=2026-11-29/x.parquet')).toBe('datastroom-test-curated');
    expect(store.bucketOf('quarantine/noise/dt=2026-11-29/x.jsonl')).toBe('datastroom-test-curated');
  });

  it('carries a whole transform: raw object in, curated and quarantine objects out, twice onto the same keys', async () => {
    const key = 'raw/air_quality/dt=2026-11-29/datastroom-test-air_quality-1-2026-11-29-10-00-00-s3rv.jsonl';
    const body = [airReading(), airReading(undefined, { pm25: 'high' })].map((p) => arrivalLine({ dataset: 'air_quality', payload: p })).join('\n') + '\n';
    await s3ClientFromEnv(env).send(new PutObjectCommand({ Bucket: 'datastroom-test-raw', Key: key, Body: body }));
    const duckdb = await createTransformEngine();
    const env1 = { duckdb, pseudonymKey: TEST_KEY };
    const first = await processRawObject(store, getDataset('air_quality'), key, env1, await tempDir());
    const again = await processRawObject(store, getDataset('air_quality'), key, env1, await tempDir());
    duckdb.closeSync();
    expect(first).toMatchObject({ received: 2, curated: 1, quarantined: 1 });
    expect(again.outputs.map((o) => o.key)).toEqual(first.outputs.map((o) => o.key));
    expect(await store.list('curated/air_quality/')).toEqual(['curated/air_quality/dt=2026-11-29/datastroom-test-air_quality-1-2026-11-29-10-00-00-s3rv.parquet']);
    expect(await store.list('quarantine/air_quality/')).toHaveLength(1);
  });
});
