/**
 * The SQL fast path decides speed, never outcome: for readings generated
 * from each dataset's schema (valid, at the bounds, and broken in the ways
 * sensors break them) the transform's output equals what the reference
 * judge decides for each reading on its own. Each reading travels either as
 * the local ingest writes it (JSON embedded) or as the cloud's topic rule
 * does (base64 of the bytes the sensor sent, in a gzip Firehose object or
 * not), its text spelled in ways JSON.parse and DuckDB's reader agree on or
 * not: the SQL must never accept what the judge would not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EVENT_TIME_FIELD, registry, type Dataset, type FieldSource, type FieldSpec, type Paths } from '../../datasets/index.ts';
import { parsePath, pathList } from '../../datasets/formats/paths.ts';
import { UNITS } from '../../datasets/formats/units.ts';
import { gzipSync } from 'node:zlib';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  decodePayload,
  hasPersonalData,
  judgeReading,
  MAX_NESTING,
  readingId,
  TRANSFORM_DEFAULTS,
  type CuratedRow,
  type TransformPolicy,
} from '../../functions/core/reading.ts';
import { illFormedAt } from '../../functions/core/raw-lines.ts';
import { isNativeShape, mapPayload } from '../../functions/core/formats.ts';
import { simpleFormat, vendorReader } from '../../functions/core/formats-sql.ts';
import { messageIdFor, rawLine, topicFor } from '../../functions/core/envelope.ts';
import { quoteString } from '../../functions/core/columns.ts';
import { arrivalLine, TEST_KEY, tempDir } from '../helpers/fixtures.ts';
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

/**
 * How a reading travels: embedded JSON as the local ingest writes it, or
 * base64 as the topic rule writes it, with its text spelled one of these
 * ways; or as another producer may write it: base64 without padding or
 * wrapped in lines (Node decodes both, DuckDB neither), an array of one
 * reading, JSON embedded whatever its keys (duplicates, deep extras), or
 * both bytes and JSON in one line (the bytes are what counts).
 */
type Form =
  | 'plain'
  | 'compact'
  | 'pretty'
  | 'escapedKeys'
  | 'duplicateKey'
  | 'trailingComma'
  | 'nan'
  | 'tooDeep'
  | 'loneSurrogate'
  | 'notUtf8'
  | 'unpaddedBase64'
  | 'wrappedBase64'
  | 'arrayOfOne'
  | 'embeddedTooDeep'
  | 'embeddedDeepEnough'
  | 'embeddedDuplicateKey'
  | 'bytesBesideJson';

/** Forms the SQL reads as they are: an object of only these never needs the pre-pass. */
const FAST_FORMS: readonly Form[] = ['plain', 'compact', 'pretty', 'escapedKeys', 'embeddedTooDeep', 'embeddedDeepEnough', 'embeddedDuplicateKey'];

/** Forms whose payload is embedded in the raw line as JSON text, not base64. */
const EMBEDDED_FORMS: readonly Form[] = ['embeddedTooDeep', 'embeddedDeepEnough', 'embeddedDuplicateKey'];

const formArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<Form>('plain', 'compact') },
  { weight: 3, arbitrary: fc.constantFrom<Form>('pretty', 'escapedKeys') },
  { weight: 2, arbitrary: fc.constantFrom<Form>('duplicateKey', 'trailingComma') },
  { weight: 2, arbitrary: fc.constantFrom<Form>('nan', 'tooDeep', 'loneSurrogate', 'notUtf8') },
  { weight: 2, arbitrary: fc.constantFrom<Form>('unpaddedBase64', 'wrappedBase64', 'arrayOfOne') },
  { weight: 2, arbitrary: fc.constantFrom<Form>('embeddedTooDeep', 'embeddedDeepEnough', 'embeddedDuplicateKey', 'bytesBesideJson') },
);

/** The base64 text of a payload as the form spells it. */
function base64Of(bytes: Buffer, form: Form): string {
  const base64 = bytes.toString('base64');
  if (form === 'unpaddedBase64') return base64.replace(/=+$/, '');
  if (form === 'wrappedBase64') return base64.replace(/.{60}/g, '$&\n');
  return base64;
}

/** The bytes a sensor sent for a reading, spelled as the form says. */
function spelled(payload: Record<string, unknown>, form: Form, dataset: Dataset): Buffer {
  const json = JSON.stringify(payload);
  const after = json.slice(1); // the members and the closing brace
  switch (form) {
    case 'plain':
    case 'compact':
    case 'unpaddedBase64':
    case 'wrappedBase64':
      return Buffer.from(json);
    case 'arrayOfOne':
      return Buffer.from(`[${json}]`);
    case 'embeddedTooDeep':
      // One level deeper than a reading may nest, in a field the dataset does not have.
      return Buffer.from(`{"extra":${'['.repeat(MAX_NESTING)}${']'.repeat(MAX_NESTING)},${after}`);
    case 'embeddedDeepEnough':
      return Buffer.from(`{"extra":${'['.repeat(MAX_NESTING - 1)}${']'.repeat(MAX_NESTING - 1)},${after}`);
    case 'embeddedDuplicateKey':
      return Buffer.from(`${json.slice(0, -1)},${JSON.stringify(dataset.fields[1]?.name ?? 'x')}:null}`);
    case 'bytesBesideJson':
      // Torn bytes; the line carries the whole reading as JSON beside them.
      return Buffer.from(json.slice(0, -1));
    case 'pretty':
      return Buffer.from(`\r\n ${JSON.stringify(payload, null, 2).replace(/\n/g, '\r\n')}\t\n`);
    case 'escapedKeys':
      // "\u0070m25" is pm25 to every JSON reader.
      return Buffer.from(json.replace(/"([a-z])([a-z0-9_]*)":/g, (_m, first: string, rest: string) => `"\\u00${first.charCodeAt(0).toString(16)}${rest}":`));
    case 'duplicateKey':
      // JSON.parse keeps the last value (null, which no field takes), DuckDB's reader the first.
      return Buffer.from(`${json.slice(0, -1)},${JSON.stringify(dataset.fields[1]?.name ?? 'x')}:null}`);
    case 'trailingComma':
      return Buffer.from(`${json.slice(0, -1)},}`);
    case 'nan':
      return Buffer.from(`{"extra":NaN,${after}`);
    case 'tooDeep':
      return Buffer.from(`{"extra":${'['.repeat(MAX_NESTING)}${']'.repeat(MAX_NESTING)},${after}`);
    case 'loneSurrogate':
      return Buffer.from(`{"extra":"\\ud800",${after}`);
    case 'notUtf8':
      return Buffer.concat([Buffer.from(json.slice(0, -1)), Buffer.from([0x2c, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])]);
  }
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

/** What a run must have decided for each message: its row curated in its partition, or its reason in quarantine. */
async function expectDecided(
  run: Awaited<ReturnType<TransformHarness['run']>>,
  expected: ReadonlyMap<string, { row?: CuratedRow; reason?: string | RegExp }>,
): Promise<void> {
  const curatedFiles = run.result.outputs.filter((o) => o.zone === 'curated');
  const curated = await curatedById(curatedFiles.map((o) => o.file));
  const reasons = new Map(run.quarantine.map((q) => [q.messageId, q.reason]));
  for (const [id, want] of expected) {
    if (want.row) {
      const { dt, ...row } = want.row;
      expect(curated.get(id), `curated ${id}`).toEqual(row);
      expect(curatedFiles.some((o) => o.key.includes(`/dt=${String(dt)}/`) && curatedDates.get(o.file)?.has(id)), `${id} in dt=${String(dt)}`).toBe(true);
    } else if (want.reason instanceof RegExp) {
      expect(reasons.get(id), `quarantined ${id}`).toMatch(want.reason);
    } else {
      expect(reasons.get(id), `quarantined ${id}`).toBe(want.reason);
      expect(curated.has(id), `${id} not curated`).toBe(false);
    }
  }
}

/** A clock policy that lets any event time through, so only the range both engines store exactly decides. */
const PERMISSIVE: TransformPolicy = { futureToleranceSeconds: 8e12, maxLatenessDays: 5_000_000 };

describe.each(registry.map((d) => [d.id, d] as const))('fast path of %s', (_id, dataset) => {
  it.each([
    ['the default clock policy', TRANSFORM_DEFAULTS, 12],
    ['a permissive clock policy', PERMISSIVE, 6],
  ] as const)('decides exactly as the reference judge, under %s', async (_name, policy, numRuns) => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(readingArb(dataset), sensorArb, formArb), { minLength: 1, maxLength: 25 }), fc.boolean(), async (batch, gzip) => {
        const lines: string[] = [];
        const expected = new Map<string, { row?: CuratedRow; reason?: string | RegExp }>();
        batch.forEach(([reading, sensor, form], i) => {
          // A distinct extra field keeps every message distinct; extra fields are dropped.
          const payload = { ...reading, _n: i };
          const bytes = form === 'plain' ? Buffer.from(JSON.stringify(payload)) : spelled(payload, form, dataset);
          const messageId = messageIdFor(topicFor(dataset.id, sensor), bytes);
          const receivedAt = RECEIVED.toISOString();
          lines.push(
            form === 'plain' ? arrivalLine({ dataset: dataset.id, sensor, payload, receivedAt: RECEIVED })
            : EMBEDDED_FORMS.includes(form) ? `{"messageId":"${messageId}","sensorId":${JSON.stringify(sensor)},"receivedAt":"${receivedAt}","payload":${bytes.toString('utf8')}}`
            : JSON.stringify({ messageId, sensorId: sensor, receivedAt, ...(form === 'bytesBesideJson' ? { payload } : {}), payloadBase64: base64Of(bytes, form) }),
          );
          // The judge sees what travelled: JSON has no -0, no undefined.
          const arrival = { messageId, sensorId: sensor, receivedAt };
          const decoded = decodePayload({ ...arrival, payloadBase64: bytes.toString('base64') }, { personal: hasPersonalData(dataset) });
          if (!decoded.ok) {
            expected.set(messageId, { reason: decoded.reason });
            return;
          }
          decoded.values.forEach((value, n) => {
            const id = readingId(decoded, n);
            if (illFormedAt(value) !== undefined) {
              // JSON.parse takes it; DuckDB's reader does not: the pre-pass quarantines it with its path.
              expected.set(id, { reason: /is not valid Unicode: it holds a lone UTF-16 surrogate/ });
              return;
            }
            // What carries no event time may be another format: the pre-pass maps it first.
            for (const mapped of isNativeShape(value) ? [{ ok: true as const, messageId: id, sensorId: sensor, reading: value }] : mapPayload(dataset, { ...arrival, messageId: id }, value)) {
              if (!mapped.ok) {
                expected.set(mapped.messageId, { reason: mapped.reason });
                continue;
              }
              const j = judgeReading(dataset, { ...arrival, messageId: mapped.messageId, sensorId: mapped.sensorId }, mapped.reading, { policy, pseudonymKey: TEST_KEY });
              expected.set(mapped.messageId, j.ok ? { row: j.row } : { reason: j.reason });
            }
          });
        });
        let rawFile: string | undefined;
        if (gzip) {
          // As Firehose writes it: gzip JSON lines.
          rawFile = join(await tempDir(), 'raw.jsonl.gz');
          await writeFile(rawFile, gzipSync(lines.map((l) => `${l}\n`).join('')));
        }
        const run = await harness.run(dataset, lines, { policy, rawFile });
        await expectDecided(run, expected);
        expect(run.result.curated + run.result.quarantined).toBe(batch.length);
        // Bytes the SQL can read as they are, base64 or not, never take the pre-pass, unless a reading lacks
        // its event time (and so may be in another format the pre-pass maps).
        if (batch.every(([reading, , form]) => FAST_FORMS.includes(form) && isNativeShape(JSON.parse(JSON.stringify(reading))))) {
          expect(run.result.canonicalised).toBe(false);
        }
      }),
      { numRuns },
    );
  });
});

/** A format's key steps of a path, where it is keys only (the compiler reads no other). */
function keysOf(path: string): string[] {
  return parsePath(path).flatMap((s) => (s.kind === 0 ? [s.key] : []));
}

/** The attributes a Smart Data Model format reads: its paths of one key. */
function attributesOf(paths: Paths): string[] {
  return [...new Set(pathList(paths).map(keysOf).filter((k) => k.length === 1).map((k) => k[0] as string))];
}

/** Times vendors send: near the arrival mostly, with Z, an offset or none, up to nanoseconds, or an interval. */
const vendorTsArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        secondsBefore: fc.integer({ min: -120, max: 86_400 * 3 }),
        offset: fc.constantFrom('Z', '+01:00', '-04:30', '+00:00', ''),
        fraction: fc.constantFrom('', '.5', '.123', '.123456', '.1234567', '.123456789', '.999999999'),
        interval: fc.boolean(),
      })
      .map(({ secondsBefore, offset, fraction, interval }) => {
        const t = new Date(RECEIVED.getTime() - secondsBefore * 1000);
        const sign = offset.startsWith('-') ? -1 : 1;
        const shift = offset === 'Z' || offset === '' ? 0 : sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
        const text = `${new Date(t.getTime() + shift * 60_000).toISOString().slice(0, 19)}${fraction}${offset}`;
        return interval ? `2026-11-28T10:00:00Z/${text}` : text;
      }),
  },
  { weight: 2, arbitrary: tsArb },
  { weight: 1, arbitrary: fc.constantFrom('2026-11-29T09:00:00Z/bad', '2026-11-29 09:00:00Z', '2026-11-29T09:00:00,5Z', 1764410400, { '@value': '2026-11-29T09:00:00Z' }) },
);

/** A value for a field, in its unit or another, in the JSON types sensors get wrong. */
function vendorValueArb(dataset: Dataset, name: string, source: FieldSource | undefined): fc.Arbitrary<unknown> {
  const spec = dataset.fields.find((f) => f.name === name) as FieldSpec;
  if (source !== undefined && !('constant' in source) && source.values !== undefined) return fc.constantFrom(...Object.keys(source.values), 'unknown', 1, null);
  const low = spec.minimum ?? spec.exclusiveMinimum ?? 0;
  const high = spec.maximum ?? spec.exclusiveMaximum ?? 1000;
  const valid = spec.kind === 'bigint' ? fc.integer({ min: Math.ceil(low), max: Math.floor(high) }) : fc.double({ min: low, max: high, noNaN: true });
  return fc.oneof(
    { weight: 8, arbitrary: valid },
    { weight: 2, arbitrary: fieldArb(spec) },
    { weight: 1, arbitrary: fc.constantFrom({ value: 3 }, '5', false, null, [2], 1e21, 2.5) },
  );
}

/** The unit codes an entity may name for a field: its quantity's (factor one or not) mostly, or one that does not fit. */
function unitArb(dataset: Dataset, name: string): fc.Arbitrary<unknown> {
  const own = UNITS.get(dataset.fields.find((f) => f.name === name)?.unit ?? '');
  const same = [...UNITS].filter(([, u]) => u.quantity === own?.quantity).map(([code]) => code);
  return fc.oneof({ weight: 6, arbitrary: same.length > 0 ? fc.constantFrom(...same) : fc.constant('XX') }, { weight: 1, arbitrary: fc.constantFrom('XX', '2N', 12, null) });
}

/** An NGSI attribute in one of the four shapes, with a unit or not. */
function attributeArb(shape: string, value: fc.Arbitrary<unknown>, unitCode: fc.Arbitrary<unknown> | undefined): fc.Arbitrary<unknown> {
  const unitOrNone = unitCode === undefined ? fc.constant(undefined) : fc.option(unitCode, { nil: undefined, freq: 2 });
  return fc.tuple(value, unitOrNone, fc.boolean()).map(([v, unit, typed]) => {
    switch (shape) {
      case 'keyvalues':
        return v;
      case 'v2':
        return { type: 'Number', value: v, ...(unit !== undefined ? { metadata: { unitCode: { type: 'Text', value: unit } } } : {}) };
      case 'ld':
        return { type: 'Property', value: typed && typeof v === 'string' ? { '@type': 'DateTime', '@value': v } : v, ...(unit !== undefined ? { unitCode: unit } : {}) };
      default:
        return unit !== undefined || typed ? { value: v, ...(unit !== undefined ? { unitCode: unit } : {}) } : v;
    }
  });
}

/** A single entity or uplink in one of a dataset's formats, as vendors send it and as they break it. */
function vendorPayloadArb(dataset: Dataset, avoid: ReadonlySet<string> = new Set()): fc.Arbitrary<Record<string, unknown>> {
  const formats = dataset.formats ?? [];
  const allowed = (keys: readonly string[]) => keys.filter((k) => !avoid.has(k.split('.')[0] as string));
  const arbs: fc.Arbitrary<Record<string, unknown>>[] = [];
  const optional = <T,>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 10, arbitrary: a }, { weight: 1, arbitrary: fc.constant(MISSING) });
  const entries = (pairs: readonly (readonly [string, unknown])[]) => Object.fromEntries(pairs.filter(([, v]) => v !== MISSING));
  const ttn = formats.find((f) => f.id === 'ttn-v3');
  if (ttn) {
    const fields = Object.entries(ttn.fields).map(([name, source]) => {
      const keys = allowed('constant' in source ? [] : pathList(source.path).map((p) => keysOf(p).slice(2).join('.')));
      // Alternates: one, both, or none of the keys the formatter may write.
      const chosenKeys = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...keys).map((k) => [k]) }, { weight: 2, arbitrary: fc.subarray(keys, { maxLength: Math.min(2, keys.length) }) });
      return chosenKeys.chain((chosen) => fc.tuple(...chosen.map((k) => vendorValueArb(dataset, name, source).map((v) => [k, v] as const))));
    });
    arbs.push(
      fc
        .record({
          device: fc.oneof({ weight: 9, arbitrary: fc.constantFrom('s-1', 'cam:2', 'A_b-3') }, { weight: 1, arbitrary: fc.constantFrom('a b', '', 12) }),
          decoded: fc.tuple(...fields).map((lists) => Object.fromEntries(lists.flat())),
          at: fc.constantFrom('uplink', 'top', 'both', 'none'),
          time: vendorTsArb,
          bytes: fc.boolean(),
          extra: fc.boolean(),
        })
        .map(({ device, decoded, at, time, bytes, extra }) => ({
          end_device_ids: { device_id: device, application_ids: { application_id: 'city' } },
          ...(at === 'top' || at === 'both' ? { received_at: time } : {}),
          uplink_message: {
            ...(bytes ? { frm_payload: 'AAEC' } : {}),
            ...(extra ? { f_port: 1, rx_metadata: [{ gateway_ids: { gateway_id: 'gw' } }] } : {}),
            decoded_payload: decoded,
            ...(at === 'uplink' || at === 'both' ? { received_at: at === 'both' ? '2026-11-29T09:59:00Z' : time } : {}),
          },
        })),
    );
  }
  for (const format of formats.filter((f) => f.id.startsWith('ngsi-'))) {
    const type = format.recognise[0]?.equals;
    const shape = format.id.startsWith('ngsi-v2-keyvalues') ? 'keyvalues' : format.id.startsWith('ngsi-v2') ? 'v2' : format.id.startsWith('ngsi-ld-normalized') ? 'ld' : 'concise';
    const times = allowed(attributesOf(format.time.path)).length > 0 ? allowed(attributesOf(format.time.path)) : attributesOf(format.time.path);
    const fields = Object.entries(format.fields).flatMap(([name, source]) =>
      'constant' in source || allowed(attributesOf(source.path)).length === 0 ? [] : [fc.tuple(fc.constantFrom(...allowed(attributesOf(source.path))), optional(attributeArb(shape, vendorValueArb(dataset, name, source), unitArb(dataset, name))))],
    );
    arbs.push(
      fc
        .record({
          id: fc.oneof({ weight: 9, arbitrary: fc.constantFrom('urn:ngsi-ld:X:s-1', 's-1', 'cam:2') }, { weight: 1, arbitrary: fc.constantFrom('a b', 7) }),
          type: fc.oneof({ weight: 9, arbitrary: fc.constant(type) }, { weight: 1, arbitrary: fc.constant('Other') }),
          time: fc.tuple(fc.constantFrom(...times), optional(attributeArb(shape, vendorTsArb, undefined))),
          fields: fc.tuple(...fields),
          context: fc.boolean(),
          extra: fc.boolean(),
        })
        .map(({ id, type: t, time, fields: fs, context, extra }) => ({
          id,
          type: t,
          ...(shape !== 'keyvalues' && shape !== 'v2' && context ? { '@context': ['https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld'] } : {}),
          ...entries([time, ...fs]),
          ...(extra ? { address: { streetAddress: 'Kouter 1' }, note: [1, 2] } : {}),
        })),
    );
  }
  return fc.oneof(...arbs);
}

/** How a vendor payload travels: embedded as it is, with a duplicate key (top-level or nested), or through an integration. */
type VendorForm = 'embedded' | 'duplicateTop' | 'duplicateNested' | 'via' | 'base64';

function vendorText(payload: Record<string, unknown>, form: VendorForm): string {
  if (form === 'duplicateTop') return `{"type":"Other","id":null,${JSON.stringify(payload).slice(1)}`;
  if (form === 'duplicateNested') return withNestedDuplicate(payload);
  return JSON.stringify(payload);
}

/**
 * The payload's JSON with the first nested member that holds a number (a field's value) written twice, 7 first:
 * DuckDB reads the 7, JavaScript the value after it.
 */
function withNestedDuplicate(payload: Record<string, unknown>): string {
  let done = false;
  const write = (value: unknown, depth: number): string => {
    if (typeof value !== 'object' || value === null) return JSON.stringify(value);
    if (Array.isArray(value)) return `[${value.map((v) => write(v, depth + 1)).join(',')}]`;
    const members = Object.entries(value).map(([k, v]) => {
      const key = JSON.stringify(k);
      if (!done && depth > 0 && typeof v === 'number') {
        done = true;
        return `${key}:7,${key}:${JSON.stringify(v)}`;
      }
      return `${key}:${write(v, depth + 1)}`;
    });
    return `{${members.join(',')}}`;
  };
  return write(payload, 0);
}

const withFormats = registry.filter((d) => (d.formats ?? []).some((f) => f.id === 'ttn-v3' || f.id.startsWith('ngsi-')));

/**
 * How a batch is drawn: every form and key (`mixed`: many objects take the
 * pre-pass, as one base64 line or one key the SQL does not read sends the
 * whole object there), or only what the SQL maps itself (`sql`: embedded or
 * delivered through an integration, keys it reads), where the object must
 * never take the pre-pass.
 */
const VENDOR_MODES = ['mixed', 'sql'] as const;

describe.each(withFormats.flatMap((d) => VENDOR_MODES.map((mode) => [d.id, mode, d] as const)))('fast path of %s, vendor formats, %s', (_id, mode, dataset) => {
  it('decides exactly as the format engine and the reference judge', async () => {
    const vendorFormArb =
      mode === 'sql'
        ? fc.oneof({ weight: 6, arbitrary: fc.constant<VendorForm>('embedded') }, { weight: 1, arbitrary: fc.constant<VendorForm>('via') })
        : fc.oneof({ weight: 6, arbitrary: fc.constant<VendorForm>('embedded') }, { weight: 1, arbitrary: fc.constantFrom<VendorForm>('duplicateTop', 'duplicateNested', 'via', 'base64') });
    const avoid = new Set(mode === 'sql' ? (vendorReader(dataset)?.hiddenKeys ?? []) : []);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(vendorPayloadArb(dataset, avoid), vendorFormArb), { minLength: 1, maxLength: 30 }), async (batch) => {
        const lines: string[] = [];
        const expected = new Map<string, { row?: CuratedRow; reason?: string }>();
        const batchFormats: string[] = [];
        batch.forEach(([entity, form], i) => {
          const payload = { ...entity, _n: i };
          const bytes = Buffer.from(vendorText(payload, form));
          const sensor = form === 'via' ? 'http:city' : 's-1';
          const via = form === 'via' ? 'http:city' : undefined;
          const messageId = messageIdFor(topicFor(dataset.id, sensor), bytes);
          lines.push(
            form === 'base64' ? JSON.stringify({ messageId, sensorId: sensor, receivedAt: RECEIVED.toISOString(), payloadBase64: bytes.toString('base64') })
            : rawLine(sensor, messageId, RECEIVED, bytes, via !== undefined ? { via } : {}),
          );
          const arrival = { messageId, sensorId: sensor, receivedAt: RECEIVED.toISOString() };
          const value: unknown = JSON.parse(bytes.toString('utf8'));
          for (const mapped of isNativeShape(value) ? [] : mapPayload(dataset, { ...arrival, ...(via !== undefined ? { via } : {}) }, value)) {
            if (mapped.format !== undefined) batchFormats.push(mapped.format);
            if (!mapped.ok) {
              expected.set(mapped.messageId, { reason: mapped.reason });
              continue;
            }
            const j = judgeReading(dataset, { ...arrival, messageId: mapped.messageId, sensorId: mapped.sensorId, format: mapped.format }, mapped.reading, { policy: TRANSFORM_DEFAULTS, pseudonymKey: TEST_KEY });
            expected.set(mapped.messageId, j.ok ? { row: j.row } : { reason: j.reason });
          }
        });
        const run = await harness.run(dataset, lines, { policy: TRANSFORM_DEFAULTS });
        await expectDecided(run, expected);
        expect(run.result.curated + run.result.quarantined).toBe(expected.size);
        // Formats the SQL does not compile are the pre-pass's (see simpleFormat).
        const compiled = (id: string) => {
          const format = (dataset.formats ?? []).find((f) => f.id === id);
          return format === undefined || simpleFormat(format);
        };
        if (mode === 'sql' && batchFormats.every(compiled)) {
          expect(run.result.canonicalised, 'mapped by the SQL, not the pre-pass').toBe(false);
        }
      }),
      { numRuns: Number(process.env.VENDOR_RUNS ?? 12) },
    );
  });
});
