/**
 * The transform Lambda with the AWS SDK mocked at the client level. What the
 * core decides about readings is the core tests' business; these tests hold
 * the handler to its contract with S3, Secrets Manager and SQS: which objects
 * it reads and writes, partial batch failures, and idempotent retries.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { messageIdFor, topicFor } from '../../functions/core/envelope.ts';
import { readTransformConfig, TransformConfigError } from '../../functions/transform/config.ts';
import { metricLine } from '../../functions/transform/batch.ts';
import { pseudonymKeyFromSecret } from '../../functions/adapters/secrets.ts';
import { airReading } from '../helpers/fixtures.ts';

const RAW = 'datastroom-test-raw';
const CURATED = 'datastroom-test-curated';
const SECRET = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:pseudonym';
const s3 = mockClient(S3Client);
const secrets = mockClient(SecretsManagerClient);

/** The buckets as the mock sees them: bucket/key to bytes. */
const objects = new Map<string, Buffer>();
/** Keys whose PutObject fails, to inject a storage fault. */
const failingKeys = new Set<string>();

/**
 * A raw object exactly as the topic rule and the delivery stream write it: gzip JSON lines, payload
 * base64. Another producer may spell the base64 otherwise (`spell`), as Node's decoder still reads it.
 */
function cloudRawObject(sensor: string, payloads: unknown[], spell: (base64: string) => string = (b) => b): Buffer {
  const topic = topicFor('air_quality', sensor);
  const lines = payloads.map((p, i) => {
    const bytes = Buffer.from(typeof p === 'string' ? p : JSON.stringify(p));
    return JSON.stringify({
      messageId: messageIdFor(topic, bytes),
      sensorId: sensor,
      receivedAt: new Date(Date.parse('2026-11-29T10:00:05Z') + i).toISOString(),
      payloadBase64: spell(bytes.toString('base64')),
    });
  });
  return gzipSync(lines.join('\n') + '\n');
}

/** Base64 spellings DuckDB's decoder refuses and Node's reads: without padding, wrapped as MIME does. */
const BASE64_SPELLINGS = {
  'without padding': (b: string) => b.replace(/=+$/, ''),
  'wrapped at 76 columns': (b: string) => b.replace(/.{76}/g, '$&\r\n'),
} as const;

/** How many rows DuckDB reads from a stored quarantine object, and its records as DuckDB reads them. */
async function quarantineThroughDuckDb(rawKey: string): Promise<Record<string, unknown>[]> {
  const dir = await mkdtemp(join(tmpdir(), 'datastroom-quarantine-'));
  try {
    const file = join(dir, 'quarantine.jsonl.gz');
    await writeFile(file, objects.get(`${CURATED}/${quarantineOf(rawKey)}`)!);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const reader = await conn.runAndReadAll(`SELECT reason, to_json(payload)::VARCHAR AS payload FROM read_json('${file}', format = 'newline_delimited')`);
      return reader.getRowObjectsJS() as Record<string, unknown>[];
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function objectCreated(key: string, messageId: string) {
  return {
    messageId,
    body: JSON.stringify({ 'detail-type': 'Object Created', source: 'aws.s3', detail: { bucket: { name: RAW }, object: { key } } }),
  };
}

const keyA = 'raw/air_quality/dt=2026-11-29/datastroom-test-air_quality-1-2026-11-29-10-00-00-aaaa.jsonl.gz';
const keyB = 'raw/air_quality/dt=2026-11-29/datastroom-test-air_quality-1-2026-11-29-10-01-00-bbbb.jsonl.gz';
const curatedOf = (rawKey: string) => `curated/air_quality/dt=2026-11-29/${rawKey.split('/').at(-1)!.replace('.jsonl.gz', '')}.parquet`;
const quarantineOf = (rawKey: string) => `quarantine/air_quality/dt=2026-11-29/${rawKey.split('/').at(-1)!}`;
/** The quarantine records of a raw object, as the handler stored them. */
const quarantineRecords = (rawKey: string) =>
  gunzipSync(objects.get(`${CURATED}/${quarantineOf(rawKey)}`)!).toString().trim().split('\n').map((l) => JSON.parse(l) as { reason: string; messageId: string; payload?: unknown });

let handler: (event: unknown) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;

const logged: string[] = [];
beforeAll(async () => {
  // The handler logs a JSON line per object (metrics, failures); keep them for assertions, off the test output.
  vi.spyOn(console, 'log').mockImplementation((line: string) => void logged.push(line));
  vi.spyOn(console, 'error').mockImplementation((line: string) => void logged.push(line));
  Object.assign(process.env, { RAW_BUCKET: RAW, CURATED_BUCKET: CURATED, PSEUDONYM_SECRET_ARN: SECRET, AWS_REGION: 'eu-west-1', DUCKDB_MEMORY_MB: '256' });
  ({ handler } = await import('../../functions/transform/handler.ts'));
});
afterAll(() => {
  vi.restoreAllMocks();
  s3.restore();
  secrets.restore();
});

beforeEach(() => {
  s3.reset();
  secrets.reset();
  objects.clear();
  failingKeys.clear();
  objects.set(`${RAW}/${keyA}`, cloudRawObject('aq-1', [airReading('2026-11-29T11:00:00+01:00'), airReading(undefined, { pm25: '12,5' }), 'not json']));
  objects.set(`${RAW}/${keyB}`, cloudRawObject('aq-2', [airReading('2026-11-29T11:00:01+01:00'), [airReading('2026-11-29T11:00:02+01:00')]]));
  s3.on(GetObjectCommand).callsFake((input: { Bucket: string; Key: string }) => {
    const body = objects.get(`${input.Bucket}/${input.Key}`);
    if (!body) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
    return { Body: Readable.from([body]) };
  });
  s3.on(PutObjectCommand).callsFake(async (input: { Bucket: string; Key: string; Body: Readable }) => {
    const bytes = await buffer(input.Body);
    if (failingKeys.has(input.Key)) throw Object.assign(new Error('InternalError: We encountered an internal error'), { name: 'InternalError' });
    objects.set(`${input.Bucket}/${input.Key}`, bytes);
    return {};
  });
  secrets.on(GetSecretValueCommand, { SecretId: SECRET }).resolves({ SecretString: 'k'.repeat(64) });
});

const stored = () => [...objects.keys()].filter((k) => !k.startsWith(`${RAW}/`)).sort();

describe('the transform handler', () => {
  // First: the cold start of this file's one environment happens here.
  it('empties what a cut-off transform left in its scratch (/tmp/datastroom) at its cold start', async () => {
    const leftover = '/tmp/datastroom/transform-cutoff';
    await mkdir(leftover, { recursive: true });
    await writeFile(join(leftover, 'canonical.jsonl.gz'), gzipSync('{"plate":"1-ABC-123"}\n'));
    expect(await handler({ Records: [objectCreated(keyA, 'm-a')] })).toEqual({ batchItemFailures: [] });
    expect(await readdir('/tmp/datastroom')).not.toContain('transform-cutoff');
    expect((await stat('/tmp/datastroom')).mode & 0o777).toBe(0o700);
  });

  it('reads each raw object from the raw bucket and writes curated and quarantine objects to the curated bucket', async () => {
    const response = await handler({ Records: [objectCreated(keyA, 'm-a'), objectCreated(keyB, 'm-b')] });
    expect(response).toEqual({ batchItemFailures: [] });
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: RAW, Key: keyA },
      { Bucket: RAW, Key: keyB },
    ]);
    expect(s3.commandCalls(PutObjectCommand).map((c) => [c.args[0].input.Bucket, c.args[0].input.Key])).toEqual([
      [CURATED, curatedOf(keyA)],
      [CURATED, quarantineOf(keyA)],
      [CURATED, curatedOf(keyB)],
    ]);
    for (const call of s3.commandCalls(PutObjectCommand)) expect(call.args[0].input.ContentLength).toBeGreaterThan(0);
    expect(quarantineRecords(keyA).map((q) => q.reason)).toEqual(
      expect.arrayContaining(['pm25 must be a number, got string "12,5"', expect.stringMatching(/^payload is not valid JSON/)]),
    );
  });

  it('reads the pseudonymisation key from Secrets Manager once per container', async () => {
    await handler({ Records: [objectCreated(keyA, 'm-a')] });
    await handler({ Records: [objectCreated(keyB, 'm-b')] });
    expect(secrets.commandCalls(GetSecretValueCommand).length).toBeLessThanOrEqual(1);
  });

  it('reports only the record whose write failed, and its retry stores the same keys', async () => {
    failingKeys.add(curatedOf(keyB));
    const first = await handler({ Records: [objectCreated(keyA, 'm-a'), objectCreated(keyB, 'm-b')] });
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-b' }] });
    expect(logged.at(-1)).toMatch(/"level":"error","message":"transform failed".*"messageId":"m-b".*InternalError/);
    expect(stored()).toEqual([`${CURATED}/${curatedOf(keyA)}`, `${CURATED}/${quarantineOf(keyA)}`]);

    failingKeys.clear();
    const retry = await handler({ Records: [objectCreated(keyB, 'm-b')] });
    expect(retry).toEqual({ batchItemFailures: [] });
    const afterRetry = stored();
    expect(afterRetry).toEqual([`${CURATED}/${curatedOf(keyA)}`, `${CURATED}/${curatedOf(keyB)}`, `${CURATED}/${quarantineOf(keyA)}`].sort());

    // A redelivered event for an object already done rewrites the same keys: no second copy.
    const again = await handler({ Records: [objectCreated(keyA, 'm-a2'), objectCreated(keyB, 'm-b2')] });
    expect(again).toEqual({ batchItemFailures: [] });
    expect(stored()).toEqual(afterRetry);
  });

  it('fails a record alone when its event is not an object-created event or names no dataset', async () => {
    const response = await handler({
      Records: [
        { messageId: 'junk', body: '{"hello":"world"}' },
        objectCreated('raw/no_such_dataset/dt=2026-11-29/x.jsonl.gz', 'unknown'),
        objectCreated(keyA, 'm-a'),
      ],
    });
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'junk' }, { itemIdentifier: 'unknown' }] });
    expect(stored()).toContain(`${CURATED}/${curatedOf(keyA)}`);
  });

  it('fails the record when the raw object is missing, and leaves others alone', async () => {
    const response = await handler({ Records: [objectCreated(keyA.replace('aaaa', 'gone'), 'gone'), objectCreated(keyB, 'm-b')] });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'gone' }]);
  });

  it('quarantines a reading DuckDB cannot read (a lone surrogate in a key, a field or ts) alone; its object never fails', async () => {
    const keyC = keyA.replace('aaaa', 'cccc');
    const hostile = ['{"ts":"2026-11-29T11:00:00+01:00","pm25":1,"pm10":2,"no2":3,"note":"\\ud800"}', '{"ts":"\\udc00","pm25":1,"pm10":2,"no2":3}', '{"\\ud83d":1}'];
    objects.set(`${RAW}/${keyC}`, cloudRawObject('aq-3', [airReading('2026-11-29T11:00:00+01:00'), ...hostile, airReading('2026-11-29T11:00:03+01:00')]));
    // The same object, again and again: it never fails, and each time gives the same outputs.
    for (const attempt of ['m-c1', 'm-c2']) {
      const response = await handler({ Records: [objectCreated(keyC, attempt)] });
      expect(response).toEqual({ batchItemFailures: [] });
      expect(logged.at(-1)).toMatch(/"message":"transformed".*"received":5,"curated":2,"quarantined":3,"duplicates":0/);
    }
    const records = quarantineRecords(keyC);
    expect(records.map((q) => q.reason).sort()).toEqual([
      'a key of reading is not valid Unicode: it holds a lone UTF-16 surrogate (such as \\ud800)',
      'reading.note is not valid Unicode: it holds a lone UTF-16 surrogate (such as \\ud800)',
      'reading.ts is not valid Unicode: it holds a lone UTF-16 surrogate (such as \\ud800)',
    ]);
    // Quarantine keeps the reading with U+FFFD in place of the surrogate, so every JSON reader takes it.
    expect(records.map((q) => q.payload)).toContainEqual(expect.objectContaining({ note: '\uFFFD' }));
  });

  describe.each(Object.entries(BASE64_SPELLINGS))('with base64 %s', (_name, spell) => {
    const hostile = { ...airReading('2026-11-29T11:00:03+01:00'), note: '\ud800' };
    const array = [airReading('2026-11-29T11:00:00+01:00'), airReading('2026-11-29T11:00:01+01:00'), airReading('2026-11-29T11:00:02+01:00'), hostile];

    it.each([
      ['alone in its object', [array], { received: 4, curated: 3 }],
      ['beside a reading the SQL reads as it is', [array, airReading('2026-11-29T11:00:04+01:00')], { received: 5, curated: 4 }],
    ] as const)('judges each element of an array alone, %s: the lone surrogate quarantined with U+FFFD', async (_where, payloads, counts) => {
      const key = keyA.replace('aaaa', 'dddd');
      objects.set(`${RAW}/${key}`, cloudRawObject('aq-4', [...payloads], spell));
      expect(await handler({ Records: [objectCreated(key, 'm-d')] })).toEqual({ batchItemFailures: [] });
      expect(logged.at(-1)).toContain(`"received":${counts.received},"curated":${counts.curated},"quarantined":1,"duplicates":0`);
      const records = await quarantineThroughDuckDb(key);
      expect(records).toHaveLength(1);
      expect(records[0]!.reason).toBe('reading.note is not valid Unicode: it holds a lone UTF-16 surrogate (such as \\ud800)');
      expect(JSON.parse(String(records[0]!.payload))).toMatchObject({ pm25: hostile.pm25, pm10: hostile.pm10, no2: hostile.no2, note: '\uFFFD' });
    });

    it('keeps a quarantine object DuckDB reads when ts holds a lone surrogate', async () => {
      const key = keyA.replace('aaaa', 'eeee');
      objects.set(`${RAW}/${key}`, cloudRawObject('aq-5', [{ ...airReading(), ts: '2026-11-29T11:00:00+01:00\udfff' }], spell));
      expect(await handler({ Records: [objectCreated(key, 'm-e')] })).toEqual({ batchItemFailures: [] });
      expect(logged.at(-1)).toContain('"received":1,"curated":0,"quarantined":1,"duplicates":0');
      const records = await quarantineThroughDuckDb(key);
      expect(records.map((r) => r.reason)).toEqual(['reading.ts is not valid Unicode: it holds a lone UTF-16 surrogate (such as \\ud800)']);
      expect(JSON.parse(String(records[0]!.payload))).toMatchObject({ ts: '2026-11-29T11:00:00+01:00\uFFFD' });
    });
  });

  it('refuses an event that is not an SQS batch', async () => {
    await expect(handler({ hello: 'world' })).rejects.toThrow(/not an SQS event/);
  });
});

describe('vendor formats in the Lambda', () => {
  const fixture = (file: string) => JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/formats', file), 'utf8')) as Record<string, unknown>;
  /** A Firehose line for a payload; the route's literals as a topic rule for an integration would add them. */
  const line = (sensorId: string, payload: unknown, route: { via?: string; format?: string } = {}) => {
    const bytes = Buffer.from(JSON.stringify(payload));
    return JSON.stringify({ messageId: messageIdFor(topicFor('air_quality', sensorId), bytes), sensorId, receivedAt: '2026-11-29T10:00:05.000Z', ...route, payloadBase64: bytes.toString('base64') });
  };
  /** The published examples, moved to the arrival's day (the handler's clock policy refuses readings years late). */
  const uplink = fixture('ttn-v3/variant-air-quality.json');
  (uplink.uplink_message as Record<string, unknown>).received_at = '2026-11-29T10:00:04.123456789Z';
  const sds011 = { ...fixture('sensor-community/api-sds011.json'), timestamp: '2026-11-29 09:59:00' };
  const entity = { ...fixture('fiware/AirQualityObserved/variant-normalized-with-pm.json'), dateObserved: { value: '2026-11-29T10:00:00/2026-11-29T11:00:00' } };
  const key = 'raw/air_quality/dt=2026-11-29/datastroom-test-air_quality-1-2026-11-29-10-02-00-cccc.jsonl.gz';

  it('maps base64 payloads in any accepted format to curated rows with their format, and quarantines what it cannot read', async () => {
    const lines = [
      line('ttn-city', uplink),
      line('ttn-integration', uplink, { via: 'mqtt:ttn', format: 'ttn-v3' }),
      line('sc-1', sds011),
      line('orion', { subscriptionId: 's-1', data: [entity, entity] }),
      line('aq-native', airReading('2026-11-29T11:00:00+01:00')),
      line('ttn-join', { end_device_ids: { device_id: 'dev1' }, join_accept: { session_key_id: 'AXBSH1Pk6Z0G166RlH16CQ==' } }),
    ];
    objects.set(`${RAW}/${key}`, gzipSync(lines.join('\n') + '\n'));
    expect(await handler({ Records: [objectCreated(key, 'm-c')] })).toEqual({ batchItemFailures: [] });
    expect(JSON.parse(logged.filter((l) => l.includes('"Dataset":"air_quality"')).at(-1)!)).toMatchObject({ Received: 7, Curated: 6, Quarantined: 1, Duplicates: 0 });

    const dir = await mkdtemp(join(tmpdir(), 'datastroom-vendor-'));
    try {
      const file = join(dir, 'curated.parquet');
      await writeFile(file, objects.get(`${CURATED}/${curatedOf(key)}`)!);
      const db = await DuckDBInstance.create(':memory:');
      const conn = await db.connect();
      const reader = await conn.runAndReadAll(
        `SELECT sensor_id, format, strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS ts, pm25, pm10, no2 FROM read_parquet('${file}') ORDER BY sensor_id, message_id`,
      );
      const rows = reader.getRows();
      conn.closeSync();
      db.closeSync();
      expect(rows).toEqual([
        // Through an integration the sensor is the uplink's device; on its own topic, the topic's.
        ['aq-native', 'datastroom', '2026-11-29T10:00:00.000000Z', 12.5, 20, 31],
        ['dev1', 'ttn-v3', '2026-11-29T10:00:04.123456Z', 8.4, 15.2, null],
        ['orion', 'ngsi-v2-normalized', '2026-11-29T10:00:00.000000Z', 12.3, 21, 69],
        ['orion', 'ngsi-v2-normalized', '2026-11-29T10:00:00.000000Z', 12.3, 21, 69],
        ['sc-1', 'sensor-community', '2026-11-29T09:59:00.000000Z', 4.48, 6.73, null],
        ['ttn-city', 'ttn-v3', '2026-11-29T10:00:04.123456Z', 8.4, 15.2, null],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(quarantineRecords(key).map((q) => q.reason)).toEqual([
      'payload is in no format air_quality accepts: datastroom, ngsi-ld-normalized, ngsi-ld-concise, ngsi-v2-normalized, ngsi-v2-keyvalues, ttn-v3, sensor-community, irceline-sos',
    ]);
  });

  it('quarantines a reading an integration delivered without a valid sensor id, naming the path', async () => {
    const nameless = { ...uplink, end_device_ids: { device_id: 'no spaces allowed' } };
    objects.set(`${RAW}/${key}`, gzipSync(`${line('ttn-integration', nameless, { via: 'http:ttn' })}\n`));
    expect(await handler({ Records: [objectCreated(key, 'm-d')] })).toEqual({ batchItemFailures: [] });
    expect(quarantineRecords(key).map((q) => q.reason)).toEqual([
      'end_device_ids.device_id is not a valid sensor id (1 to 128 of A-Z a-z 0-9 : _ -), got "no spaces allowed"',
    ]);
  });
});

describe('the handler’s configuration and adapters', () => {
  it('fails fast, naming every missing variable', () => {
    expect(() => readTransformConfig({})).toThrow(TransformConfigError);
    expect(() => readTransformConfig({})).toThrow(/RAW_BUCKET.*CURATED_BUCKET.*PSEUDONYM_SECRET_ARN/);
    expect(readTransformConfig({ RAW_BUCKET: 'r', CURATED_BUCKET: 'c', PSEUDONYM_SECRET_ARN: 's', MAX_LATENESS_DAYS: '10' }).policy.maxLatenessDays).toBe(10);
    // The memory budget follows the function's memory, which Lambda sets.
    const minimal = { RAW_BUCKET: 'r', CURATED_BUCKET: 'c', PSEUDONYM_SECRET_ARN: 's' };
    expect(readTransformConfig({ ...minimal, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048' }).memoryBudgetMb).toBe(1740);
    expect(readTransformConfig(minimal).memoryBudgetMb).toBeUndefined();
  });

  it('refuses a secret without a string, or one too short to be a key', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'binary' }).resolves({ SecretBinary: new Uint8Array(32) });
    secrets.on(GetSecretValueCommand, { SecretId: 'short' }).resolves({ SecretString: 'tooshort' });
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    await expect(pseudonymKeyFromSecret(client, 'binary')).rejects.toThrow(/has no string value/);
    await expect(pseudonymKeyFromSecret(client, 'short')).rejects.toThrow(/at least 32 bytes/);
  });

  it('emits per-dataset counts as CloudWatch embedded metrics', () => {
    const line = JSON.parse(metricLine('Datastroom/test', 'noise', { rawKey: 'k', received: 5, curated: 3, quarantined: 1, duplicates: 1, outputs: [], canonicalised: false }, 0));
    expect(line).toMatchObject({ Dataset: 'noise', Received: 5, Curated: 3, Quarantined: 1, Duplicates: 1 });
    expect(line._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Datastroom/test', Dimensions: [['Dataset']] });
  });
});
