/**
 * Bad input, published over real MQTT to the real local platform. For each
 * case: nothing crashes, the bad part is in quarantine with its reason, the
 * good part (a good reading published alongside) is curated, and the counts
 * are exact.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES } from '../../functions/core/envelope.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import type { RunSummary } from '../../local/stats.ts';
import { quarantineRecords, tempDir } from '../helpers/fixtures.ts';

const now = brusselsIso(new Date());
const good = (extra: Record<string, unknown> = {}) => ({ ts: now, pm25: 12.5, pm10: 20, no2: 31, ...extra });
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

interface Case {
  readonly name: string;
  /** Topic the bad input goes to (default: datastroom/air_quality/<sensor of the case>). */
  readonly topic?: string;
  readonly payload: Buffer;
  /** Readings it holds that must be curated, quarantined, or counted as duplicates. */
  readonly curated: number;
  readonly quarantined: number;
  readonly duplicates?: number;
  /** The reason its quarantine record must give. */
  readonly reason?: RegExp;
}

const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const CASES: Case[] = [
  { name: 'malformed JSON', payload: Buffer.from(`{"ts":"${now}","pm25":12,`), curated: 0, quarantined: 1, reason: /^payload is not valid JSON/ },
  { name: 'invalid UTF-8', payload: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), curated: 0, quarantined: 1, reason: /^payload is not valid UTF-8$/ },
  {
    name: 'a payload over 128 KB',
    payload: json(good({ note: 'x'.repeat(MAX_PAYLOAD_BYTES) })),
    curated: 0,
    quarantined: 1,
    reason: /^payload is \d+ bytes; the limit is 131072 bytes \(IoT Core's\)$/,
  },
  { name: 'a Belgian decimal comma', payload: json(good({ pm25: '12,5' })), curated: 0, quarantined: 1, reason: /^pm25 must be a number, got string "12,5"$/ },
  { name: '"NaN"', payload: json(good({ pm10: 'NaN' })), curated: 0, quarantined: 1, reason: /^pm10 must be a number, got string "NaN"$/ },
  { name: 'null', payload: json(good({ no2: null })), curated: 0, quarantined: 1, reason: /^no2 must be a number, got null$/ },
  { name: 'a missing ts', payload: json({ pm25: 1, pm10: 2, no2: 3 }), curated: 0, quarantined: 1, reason: /^ts is required$/ },
  { name: 'an unparseable ts', payload: json(good({ ts: 'gisteren om 10u' })), curated: 0, quarantined: 1, reason: /^ts must be an ISO 8601 time with offset/ },
  { name: 'a ts far in the future', payload: json(good({ ts: '2099-01-01T00:00:00+01:00' })), curated: 0, quarantined: 1, reason: /^ts .* s after its arrival .*clock ahead/ },
  { name: 'a ts at the epoch (clock reset)', payload: json(good({ ts: '1970-01-01T00:00:00Z' })), curated: 0, quarantined: 1, reason: /days before its arrival .*clock reset/ },
  {
    name: 'an array with some bad elements',
    payload: json([good(), good({ pm25: -3 }), good({ ts: brusselsIso(new Date(Date.now() - 1000)) }), 'oops']),
    curated: 2,
    quarantined: 2,
    reason: /^(pm25 must be at least 0, got -3|reading must be a JSON object, got string)$/,
  },
  { name: 'deep nesting', payload: Buffer.from(deep(50_000)), curated: 0, quarantined: 1, reason: /^payload nests deeper than 32 levels$/ },
  {
    name: 'deep nesting inside a field',
    payload: Buffer.from(`{"ts":"${now}","pm25":${deep(5000)},"pm10":1,"no2":1}`),
    curated: 0,
    quarantined: 1,
    reason: /^payload nests deeper than 32 levels$/,
  },
  // JSON.parse takes a lone UTF-16 surrogate escape; DuckDB's JSON reader refuses the whole object for it.
  {
    name: 'a lone surrogate in an extra field',
    payload: Buffer.from(`{"ts":"${now}","pm25":12.5,"pm10":20,"no2":31,"note":"\\ud800"}`),
    curated: 0,
    quarantined: 1,
    reason: /^reading\.note is not valid Unicode: it holds a lone UTF-16 surrogate/,
  },
  {
    name: 'a lone surrogate in a key',
    payload: Buffer.from(`{"ts":"${now}","pm25":12.5,"pm10":20,"no2":31,"\\udfff":1}`),
    curated: 0,
    quarantined: 1,
    reason: /^a key of reading is not valid Unicode/,
  },
  { name: 'a lone surrogate in ts', payload: Buffer.from('{"ts":"\\ud83d","pm25":12.5,"pm10":20,"no2":31}'), curated: 0, quarantined: 1, reason: /^reading\.ts is not valid Unicode/ },
  {
    name: 'an array with a lone surrogate in one element',
    payload: Buffer.from(`[${JSON.stringify(good({ i: 0 }))},{"ts":"${now}","pm25":"\\ud800","pm10":20,"no2":31}]`),
    curated: 1,
    quarantined: 1,
    reason: /^reading\.pm25 is not valid Unicode/,
  },
  { name: 'a year before 1000', payload: json(good({ ts: '0050-03-01T10:00:00+01:00' })), curated: 0, quarantined: 1, reason: /^ts "0050-03-01T10:00:00\+01:00" lies outside the times the platform stores/ },
  { name: 'unknown extra fields (dropped)', payload: json(good({ colour: 'blue', firmware: { v: 2 } })), curated: 1, quarantined: 0 },
  { name: 'an empty array', payload: json([]), curated: 0, quarantined: 1, reason: /^payload is an empty array: no readings$/ },
  { name: 'an empty payload', payload: Buffer.alloc(0), curated: 0, quarantined: 1, reason: /^payload is not valid JSON/ },
  ...['..', 'a=b', 'a b', 'tab\there', 'bell\u0007'].map(
    (sensor): Case => ({
      name: `sensor id ${JSON.stringify(sensor)}`,
      topic: `datastroom/air_quality/${sensor}`,
      payload: json(good()),
      curated: 0,
      quarantined: 1,
      reason: /^sensor id .* is not a valid thing name/,
    }),
  ),
];

const UNROUTED: Case[] = [
  { name: 'an unknown dataset in the topic', topic: 'datastroom/luchtkwaliteit/s-1', payload: json(good()), curated: 0, quarantined: 1, reason: /names no dataset/ },
  { name: 'a sensor id with a slash', topic: 'datastroom/air_quality/a/../b', payload: json(good()), curated: 0, quarantined: 1, reason: /names no dataset/ },
];

interface Quarantined {
  reason: string;
  sensorId: string | null;
  messageId: string;
}

let dataDir: string;
let summary: RunSummary;
let quarantine: Quarantined[];
let curatedBySensor: Map<string, number>;
const badSensor = (i: number) => `bad-${i}`;
const goodSensor = (i: number) => `good-${i}`;

beforeAll(async () => {
  dataDir = await tempDir('datastroom-bad-input-', 'file');
  const platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, buffering: { maxAgeMs: 60_000 }, log: () => {} });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'bad-input' });
  for (const [i, c] of [...CASES, ...UNROUTED].entries()) {
    await client.publishAsync(`datastroom/air_quality/${goodSensor(i)}`, json(good({ case: i })), { qos: 1 });
    await client.publishAsync(c.topic ?? `datastroom/air_quality/${badSensor(i)}`, c.payload, { qos: 1 });
  }
  // The same message twice, as a QoS 1 redelivery arrives.
  await client.publishAsync('datastroom/air_quality/dup-1', json(good({ dup: true })), { qos: 1 });
  await client.publishAsync('datastroom/air_quality/dup-1', json(good({ dup: true })), { qos: 1 });
  await client.endAsync();
  summary = await platform.stop();

  quarantine = await quarantineRecords<Quarantined>(dataDir);
  const engine = await LocalQueryEngine.open(dataDir);
  const { rows } = await engine.query('SELECT sensor_id, count(*) FROM air_quality GROUP BY 1');
  engine.close();
  curatedBySensor = new Map(rows.map(([s, n]) => [String(s), Number(n)]));
}, 60_000);

describe.each([...CASES, ...UNROUTED].map((c, i) => [c.name, c, i] as const))('bad input: %s', (_name, c, i) => {
  it('quarantines the bad part with its reason and curates the good part', () => {
    expect(curatedBySensor.get(goodSensor(i)), 'the good reading beside it').toBe(1);
    if (c.topic === undefined) {
      expect(curatedBySensor.get(badSensor(i)) ?? 0).toBe(c.curated);
      const records = quarantine.filter((q) => q.sensorId === badSensor(i));
      expect(records).toHaveLength(c.quarantined);
      for (const r of records) expect(r.reason).toMatch(c.reason!);
    } else {
      const records = quarantine.filter((q) => q.reason.match(c.reason!) && (q.sensorId === null || c.topic!.endsWith(q.sensorId)));
      expect(records.length).toBeGreaterThanOrEqual(1);
    }
  });
});

describe('bad input as a whole', () => {
  it('is counted exactly: nothing lost, nothing else affected', () => {
    const all = [...CASES, ...UNROUTED];
    const routed = CASES.reduce((n, c) => n + c.curated + c.quarantined, 0);
    expect(summary.datasets.air_quality).toEqual({
      received: all.length + routed + 2,
      curated: all.length + CASES.reduce((n, c) => n + c.curated, 0) + 1,
      quarantined: CASES.reduce((n, c) => n + c.quarantined, 0),
      duplicates: 1,
    });
    expect(summary.unrouted).toBe(UNROUTED.length);
    expect(summary.received).toBe(summary.curated + summary.quarantined + summary.duplicates);
    expect(summary.failedObjects).toBe(0);
  });

  it('keeps every sensor id inside its zone: no object outside raw/, curated/, quarantine/ and state/', async () => {
    const top = (await readdir(dataDir)).sort();
    expect(top).toEqual(['curated', 'quarantine', 'raw', 'state']);
    for (const zone of ['raw', 'curated', 'quarantine']) {
      for (const entry of await readdir(join(dataDir, zone), { recursive: true })) {
        expect(entry).toMatch(/^(air_quality|_unrouted)(\/dt=\d{4}-\d{2}-\d{2}(\/[A-Za-z0-9_.-]+)?)?$/);
      }
    }
  });
});
