/**
 * The SQL fast path decides speed, never outcome: for readings generated
 * from each dataset's schema (valid, at the bounds, and broken in the ways
 * sensors break them) the transform's output equals what the reference
 * judge decides for each reading on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EVENT_TIME_FIELD, registry, type Dataset, type FieldSpec } from '../../datasets/index.ts';
import { judgeReading, TRANSFORM_DEFAULTS, type CuratedRow, type TransformPolicy } from '../../functions/core/reading.ts';
import { messageIdFor, topicFor } from '../../functions/core/envelope.ts';
import { quoteString } from '../../functions/core/columns.ts';
import { arrivalLine, TEST_KEY } from '../helpers/fixtures.ts';
import { TransformHarness } from '../helpers/transform.ts';

const RECEIVED = new Date('2026-11-29T10:00:05.000Z');

const tsArb = fc.oneof(
  fc
    .record({
      minutesBefore: fc.integer({ min: -60 * 48, max: 60 * 24 * 400 }),
      offset: fc.constantFrom('Z', '+01:00', '+02:00', '-04:30', '+00:00', '+14:00'),
      fraction: fc.constantFrom('', '.1', '.123', '.123456', '.123456789'),
    })
    .map(({ minutesBefore, offset, fraction }) => {
      const t = new Date(RECEIVED.getTime() - minutesBefore * 60_000);
      const sign = offset.startsWith('-') ? -1 : 1;
      const shift = offset === 'Z' ? 0 : sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
      const local = new Date(t.getTime() + shift * 60_000).toISOString().slice(0, 19);
      return `${local}${fraction}${offset}`;
    }),
  fc.constantFrom(
    '2026-11-29T10:00:00',
    '2026-11-29 10:00:00+01:00',
    '2026-11-29T24:00:00Z',
    '2026-02-30T10:00:00Z',
    '2026-11-29t10:00:00z',
    '2026-11-29T10:00Z',
    '1970-01-01T00:00:00Z',
    '2099-01-01T00:00:00Z',
    '2026-11-29T10:00:00+0100',
    '2028-02-29T10:00:00Z',
    '',
  ),
  // Far from now: a permissive clock policy lets them through to the range both engines store exactly.
  fc.constantFrom(
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:30:00+01:00',
    '0050-03-01T10:00:00.123456+01:00',
    '0099-12-31T23:00:00-02:00',
    '1684-07-28T00:12:26Z',
    '1684-07-28T00:12:25Z',
    '1900-01-01T00:00:00.000001Z',
    '2255-06-05T23:47:34Z',
    '2255-06-05T23:47:35Z',
    '9999-12-31T23:00:00-02:00',
  ),
  fc.constantFrom(1764410400, null, true, {}),
);

function numberArb(f: FieldSpec): fc.Arbitrary<unknown> {
  const low = f.minimum ?? f.exclusiveMinimum ?? -1000;
  const high = f.maximum ?? f.exclusiveMaximum ?? 1000;
  const edges = [low, high, low - 1, high + 1, low - 0.5, high + 0.5, 0, -0, 5.0, 1e308, -1e-300, Number.MAX_SAFE_INTEGER + 2];
  return fc.oneof(
    { weight: 6, arbitrary: f.kind === 'bigint' ? fc.integer({ min: Math.ceil(low), max: Math.floor(high) }) : fc.double({ min: low, max: high, noNaN: true }) },
    { weight: 2, arbitrary: fc.constantFrom(...edges) },
    { weight: 2, arbitrary: fc.constantFrom('12,5', 'NaN', '12', null, true, [1], { v: 1 }) },
  );
}

function stringArb(f: FieldSpec): fc.Arbitrary<unknown> {
  const valid = f.enum ? fc.constantFrom(...f.enum) : fc.string({ minLength: f.minLength ?? 0, maxLength: f.maxLength ?? 20 });
  return fc.oneof(
    { weight: 6, arbitrary: valid },
    { weight: 1, arbitrary: fc.constantFrom('1-ÄBC-123', ' 1-abc-123 ', '😀😀😀😀😀😀😀😀😀', 'x'.repeat(17), '', 'IN', 'in ') },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
    { weight: 1, arbitrary: fc.constantFrom(null, 12, false, ['a']) },
  );
}

function fieldArb(f: FieldSpec): fc.Arbitrary<unknown> {
  if (f.name === EVENT_TIME_FIELD) return tsArb;
  switch (f.kind) {
    case 'double':
    case 'bigint':
      return numberArb(f);
    case 'varchar':
      return stringArb(f);
    case 'boolean':
      return fc.oneof(fc.boolean(), fc.constantFrom('true', 0, null));
    default:
      return fc.anything();
  }
}

const MISSING = Symbol('missing');

function readingArb(dataset: Dataset): fc.Arbitrary<Record<string, unknown>> {
  const entries = dataset.fields.map((f) => fc.oneof({ weight: 12, arbitrary: fieldArb(f) }, { weight: 1, arbitrary: fc.constant(MISSING) }).map((v) => [f.name, v] as const));
  return fc.tuple(...entries).map((pairs) => Object.fromEntries(pairs.filter(([, v]) => v !== MISSING)));
}

const sensorArb = fc.oneof({ weight: 9, arbitrary: fc.constantFrom('s-1', 'cam:2', 'A_b-3') }, { weight: 1, arbitrary: fc.constantFrom('a b', '..', 'x=y', '') });

let harness: TransformHarness;
beforeAll(async () => {
  harness = await TransformHarness.create();
});
afterAll(() => harness.close());

/** The message ids each curated file holds: the partition a row landed in. */
const curatedDates = new Map<string, Set<string>>();

async function curatedById(files: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
  const conn = await harness.duckdb.connect();
  const rows = new Map<string, Record<string, unknown>>();
  for (const file of files) {
    curatedDates.set(file, new Set());
    const reader = await conn.runAndReadAll(
      `SELECT * REPLACE (epoch_us(ts) AS ts, epoch_us(received_at) AS received_at) FROM read_parquet(${quoteString(file)}, hive_partitioning = false)`,
    );
    for (const row of reader.getRowObjectsJS()) {
      const plain = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]));
      rows.set(String(plain.message_id), plain);
      curatedDates.get(file)?.add(String(plain.message_id));
    }
  }
  conn.closeSync();
  return rows;
}

/** A clock policy that lets any event time through, so only the range both engines store exactly decides. */
const PERMISSIVE: TransformPolicy = { futureToleranceSeconds: 8e12, maxLatenessDays: 5_000_000 };

describe.each(registry.map((d) => [d.id, d] as const))('fast path of %s', (_id, dataset) => {
  it.each([
    ['the default clock policy', TRANSFORM_DEFAULTS, 12],
    ['a permissive clock policy', PERMISSIVE, 6],
  ] as const)('decides exactly as the reference judge, under %s', async (_name, policy, numRuns) => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(readingArb(dataset), sensorArb), { minLength: 1, maxLength: 25 }), async (batch) => {
        const lines: string[] = [];
        const expected = new Map<string, { row?: CuratedRow; reason?: string }>();
        batch.forEach(([reading, sensor], i) => {
          // A distinct extra field keeps every message distinct; extra fields are dropped.
          const payload = { ...reading, _n: i };
          lines.push(arrivalLine({ dataset: dataset.id, sensor, payload, receivedAt: RECEIVED }));
          const messageId = messageIdFor(topicFor(dataset.id, sensor), Buffer.from(JSON.stringify(payload)));
          // The judge sees what travelled: JSON has no -0, no undefined.
          const sent: unknown = JSON.parse(JSON.stringify(payload));
          const j = judgeReading(dataset, { messageId, sensorId: sensor, receivedAt: RECEIVED.toISOString() }, sent, {
            policy,
            pseudonymKey: TEST_KEY,
          });
          expected.set(messageId, j.ok ? { row: j.row } : { reason: j.reason });
        });
        const run = await harness.run(dataset, lines, { policy });
        const curatedFiles = run.result.outputs.filter((o) => o.zone === 'curated');
        const curated = await curatedById(curatedFiles.map((o) => o.file));
        const reasons = new Map(run.quarantine.map((q) => [q.messageId, q.reason]));
        for (const [id, want] of expected) {
          if (want.row) {
            const { dt, ...row } = want.row;
            expect(curated.get(id), `curated ${id}`).toEqual(row);
            expect(curatedFiles.some((o) => o.key.includes(`/dt=${String(dt)}/`) && curatedDates.get(o.file)?.has(id)), `${id} in dt=${String(dt)}`).toBe(true);
          } else {
            expect(reasons.get(id), `quarantined ${id}`).toBe(want.reason);
          }
        }
        expect(run.result.curated + run.result.quarantined).toBe(batch.length);
      }),
      { numRuns },
    );
  });
});
