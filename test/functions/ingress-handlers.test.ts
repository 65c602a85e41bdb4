/**
 * The HTTP push and pull Lambdas with Secrets Manager, Firehose and S3
 * mocked at the client level. What they put on the delivery stream is the
 * raw line the local platform writes, and the real transform curates it.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { FirehoseClient, PutRecordCommand } from '@aws-sdk/client-firehose';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { getDataset } from '../../datasets/index.ts';
import { MAX_PAYLOAD_BYTES } from '../../functions/core/envelope.ts';
import { pushAuthorization } from '../../functions/core/integrations.ts';
import { TRANSFORM_DEFAULTS } from '../../functions/core/reading.ts';
import { TransformHarness } from '../helpers/transform.ts';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/pull');
const secrets = mockClient(SecretsManagerClient);
const firehose = mockClient(FirehoseClient);
const s3 = mockClient(S3Client);
const SECRET = 'a-long-random-integration-secret';

let push: (event: unknown) => Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;
let pull: (event: unknown) => Promise<{ payloads: number; fresh: number; known: number }>;
let harness: TransformHarness;
let records: unknown;

/** An API Gateway HTTP API event (payload format 2.0). */
const event = (path: string, body: string, headers: Record<string, string>, method = 'POST') => ({
  version: '2.0',
  rawPath: path,
  headers,
  body,
  isBase64Encoded: false,
  requestContext: { http: { method, sourceIp: '192.0.2.1' } },
});

/** The lines put on each stream so far. */
const puts = () =>
  firehose.commandCalls(PutRecordCommand).map((c) => ({ stream: c.args[0].input.DeliveryStreamName, line: Buffer.from(c.args[0].input.Record?.Data ?? new Uint8Array()).toString('utf8') }));

beforeAll(async () => {
  vi.stubEnv('ENV_NAME', 'test');
  vi.stubEnv('STATE_BUCKET', 'raw-bucket');
  ({ handler: push } = await import('../../functions/push/handler.ts'));
  ({ handler: pull } = (await import('../../functions/pull/handler.ts')) as unknown as { handler: typeof pull });
  harness = await TransformHarness.create({ claims: true });
  records = JSON.parse(await readFile(join(FIXTURES, 'opendatasoft/records.json'), 'utf8'));
});

afterAll(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});

beforeEach(() => {
  secrets.reset();
  firehose.reset();
  s3.reset();
  firehose.on(PutRecordCommand).resolves({ RecordId: 'r' });
});

describe('the HTTP push Lambda', () => {
  beforeEach(() => {
    secrets.on(GetSecretValueCommand, { SecretId: 'datastroom/test/integrations/gent-odp' }).resolves({
      SecretString: JSON.stringify({ name: 'gent-odp', dataset: 'parking_occupancy', format: 'opendatasoft-parking', secret: SECRET }),
    });
    secrets.on(GetSecretValueCommand, { SecretId: 'datastroom/test/integrations/nobody' }).rejects(new ResourceNotFoundException({ message: 'no such secret', $metadata: {} }));
  });

  it('refuses what the local endpoint refuses, with the same statuses, and puts nothing on a stream', async () => {
    const json = { 'content-type': 'application/json' };
    const auth = { authorization: pushAuthorization('gent-odp', SECRET) };
    const body = JSON.stringify(records);
    const answers = await Promise.all([
      push(event('/ingest/parking_occupancy', body, json)),
      push(event('/ingest/parking_occupancy', body, { ...json, authorization: pushAuthorization('gent-odp', 'wrong') })),
      push(event('/ingest/parking_occupancy', body, { ...json, authorization: pushAuthorization('nobody', SECRET) })),
      push(event('/ingest/parkings', body, { ...json, ...auth })),
      push(event('/ingest/parking_occupancy/fiware', body, { ...json, ...auth })),
      push(event('/ingest/noise', body, { ...json, ...auth })),
      push(event('/ingest/parking_occupancy', 'free=3', { 'content-type': 'text/plain', ...auth })),
      push(event('/ingest/parking_occupancy', 'x'.repeat(MAX_PAYLOAD_BYTES + 1), { ...json, ...auth })),
      push(event('/ingest/parking_occupancy', body, { ...json, ...auth }, 'GET')),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual([401, 401, 401, 404, 404, 403, 415, 413, 405]);
    expect(new Set(answers.slice(0, 3).map((a) => a.body)).size).toBe(1);
    expect(JSON.parse(answers[3]?.body ?? '{}').error).toMatch(/^unknown dataset "parkings": known datasets are air_quality/);
    expect(puts()).toEqual([]);
  });

  it('puts an accepted payload on its dataset\'s stream as a raw line with its via and format, which the transform curates', async () => {
    const answer = await push(event('/ingest/parking_occupancy', JSON.stringify(records), { 'content-type': 'application/json', authorization: `Bearer gent-odp:${SECRET}` }));
    expect(answer).toMatchObject({ statusCode: 202 });
    const [put] = puts();
    expect(put?.stream).toBe('datastroom-test-parking_occupancy');
    const line = JSON.parse(put?.line ?? '{}');
    expect(line).toMatchObject({ sensorId: 'gent-odp', via: 'http:gent-odp', format: 'opendatasoft-parking', payload: records });
    expect(put?.line.endsWith('\n')).toBe(true);
    const run = await harness.run(getDataset('parking_occupancy'), [put?.line.trimEnd() ?? ''], { policy: { ...TRANSFORM_DEFAULTS, maxLatenessDays: 36_500 } });
    const rows = [...run.curated.values()].flat().map((r) => [r.sensor_id, Number(r.free_spaces), Number(r.total_spaces), r.format]);
    expect(rows.sort()).toEqual([
      ['P-R-Bourgoyen', 331, 400, 'opendatasoft-parking'],
      ['Sint-Michiels', 49, 304, 'opendatasoft-parking'],
      ['Vrijdagmarkt', 212, 648, 'opendatasoft-parking'],
    ]);
    expect(run.quarantine).toEqual([]);
  });
});

describe('the pull Lambda', () => {
  it('polls its source with the key from Secrets Manager, puts what is new on the stream, and keeps its cursor in S3', async () => {
    const telraam = JSON.parse(await readFile(join(FIXTURES, 'telraam/traffic.json'), 'utf8')) as { report: { date: string }[] };
    const asked: { url: string; key: string | null; body: string }[] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      asked.push({ url, key: new Headers(init.headers).get('x-api-key'), body: String(init.body) });
      return new Response(JSON.stringify(telraam), { status: 200, headers: { 'Content-Type': 'application/json' } });
    });
    secrets.on(GetSecretValueCommand, { SecretId: 'datastroom/test/pull/telraam' }).resolves({ SecretString: 'telraam-key' });
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'no cursor yet', $metadata: {} }));
    s3.on(PutObjectCommand).resolves({});
    // The poll's window ends now: an hour after the recorded answer's last report.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-20T14:00:00Z'));

    const first = await pull({ source: 'telraam' });
    expect(first).toMatchObject({ payloads: 1, fresh: 6, known: 0 });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ url: 'https://telraam-api.net/v1/reports/traffic', key: 'telraam-key' });
    expect(JSON.parse(asked[0]?.body ?? '{}')).toMatchObject({ level: 'segments', format: 'per-hour', id: '9000001463' });
    const [put] = puts();
    expect(put?.stream).toBe('datastroom-test-traffic_count');
    expect(JSON.parse(put?.line ?? '{}')).toMatchObject({ sensorId: 'telraam', via: 'pull:telraam', format: 'telraam-traffic', payload: telraam });
    const saved = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(saved).toMatchObject({ Bucket: 'raw-bucket', Key: '_state/pull/telraam.json' });
    const cursor = JSON.parse(String(saved?.Body));
    expect(cursor).toMatchObject({ cursor: Date.parse('2026-11-20T13:00:00Z'), polls: 1, payloads: 1 });
    // The keys within the overlap before the cursor are kept: 10:00 to 13:00.
    expect(cursor.seen).toHaveLength(4);

    // The next poll reads that cursor back; the same answer again holds nothing new, so nothing is put.
    const text = JSON.stringify(cursor);
    s3.on(GetObjectCommand).callsFake(() => ({ Body: Object.assign(Readable.from([Buffer.from(text)]), { transformToString: async () => text }) }));
    firehose.resetHistory();
    const second = await pull({ source: 'telraam' });
    expect(second).toMatchObject({ payloads: 0, fresh: 0 });
    expect(puts()).toEqual([]);
    vi.useRealTimers();
  });

  it('fails the invocation for a source it does not declare, naming those it does', async () => {
    await expect(pull({ source: 'nope' })).rejects.toThrow('no pull source "nope": declared are telraam, irceline, gent-parking');
  });
});
