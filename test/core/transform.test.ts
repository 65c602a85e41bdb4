import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { getDataset } from '../../datasets/index.ts';
import { pseudonym } from '../../functions/core/pseudonymise.ts';
import { transformRawObject } from '../../functions/core/transform.ts';
import { airReading, arrivalLine, ruleRecordLine, TEST_KEY, tempDir } from '../helpers/fixtures.ts';
import { allRows, TransformHarness } from '../helpers/transform.ts';

const air = getDataset('air_quality');
const anpr = getDataset('anpr_passage');
let harness: TransformHarness;

beforeAll(async () => {
  harness = await TransformHarness.create();
});
afterAll(() => harness.close());

const aq = (payload: unknown, extra: { sensor?: string; receivedAt?: Date } = {}) =>
  arrivalLine({ dataset: 'air_quality', payload, ...extra });

describe('transforming a raw object', () => {
  it('writes curated rows with the envelope first, then the fields, partitioned by event date', async () => {
    const run = await harness.run(air, [aq(airReading('2026-11-29T11:00:00+01:00'), { sensor: 'aq-1' })]);
    expect(run.result).toMatchObject({ received: 1, curated: 1, quarantined: 0, duplicates: 0 });
    const [key] = [...run.curated.keys()];
    expect(key).toBe('curated/air_quality/dt=2026-11-29/air_quality-20261129T100000000Z-0000abcd.parquet');
    const [row] = allRows(run);
    expect(Object.keys(row!)).toEqual(['sensor_id', 'received_at', 'message_id', 'format', 'ts', 'pm25', 'pm10', 'no2']);
    expect(row).toMatchObject({ sensor_id: 'aq-1', format: 'datastroom', ts: '2026-11-29 10:00:00', received_at: '2026-11-29 10:00:05', pm25: 12.5, pm10: 20, no2: 31 });
  });

  it('curates the good readings and quarantines each bad one with a reason naming the field', async () => {
    const run = await harness.run(air, [
      aq(airReading()),
      aq(airReading(undefined, { pm25: '12,5' })),
      aq(airReading('2026-11-29T11:00:01+01:00')),
      aq(airReading(undefined, { no2: -4 })),
      aq('{"ts": "2026-11-29T11:00:00+01:00", "pm25": 1'),
    ]);
    expect(run.result).toMatchObject({ received: 5, curated: 2, quarantined: 3, duplicates: 0 });
    const reasons = run.quarantine.map((q) => q.reason);
    expect(reasons).toHaveLength(3);
    expect(reasons).toEqual(
      expect.arrayContaining(['no2 must be at least 0, got -4', 'pm25 must be a number, got string "12,5"', expect.stringMatching(/^payload is not valid JSON/)]),
    );
    const comma = run.quarantine.find((q) => q.reason.startsWith('pm25'));
    expect(comma).toMatchObject({ sensorId: 'sensor-1', payload: { pm25: '12,5' }, rawKey: expect.stringMatching(/^raw\/air_quality\//) });
    const notJson = run.quarantine.find((q) => q.reason.startsWith('payload'));
    expect(Buffer.from(notJson!.payloadBase64!, 'base64').toString()).toBe('{"ts": "2026-11-29T11:00:00+01:00", "pm25": 1');
  });

  it('keeps one row per message id within an object (a QoS 1 redelivery), the first arrival', async () => {
    const payload = airReading();
    const run = await harness.run(air, [
      aq(payload, { receivedAt: new Date('2026-11-29T10:00:07Z') }),
      aq(payload, { receivedAt: new Date('2026-11-29T10:00:05Z') }),
      aq(airReading('2026-11-29T11:00:02+01:00')),
    ]);
    expect(run.result).toMatchObject({ received: 3, curated: 2, duplicates: 1, quarantined: 0 });
    expect(allRows(run).map((r) => r.received_at)).toContain('2026-11-29 10:00:05');
  });

  it('counts a duplicated bad reading once in quarantine and once as a duplicate', async () => {
    const bad = airReading(undefined, { pm25: 'high' });
    const run = await harness.run(air, [aq(bad), aq(bad)]);
    expect(run.result).toMatchObject({ received: 2, curated: 0, quarantined: 1, duplicates: 1 });
  });

  it('yields the same keys and contents when the same raw object is transformed again', async () => {
    const lines = [aq(airReading()), aq(airReading('2026-11-28T09:00:00+01:00')), aq(airReading(undefined, { pm10: 'x' }))];
    const first = await harness.run(air, lines);
    const second = await harness.run(air, lines);
    expect([...second.bytes.keys()]).toEqual([...first.bytes.keys()]);
    expect(second.curated).toEqual(first.curated);
    expect(second.quarantine).toEqual(first.quarantine);
    expect(second.result).toMatchObject({ received: 3, curated: 2, quarantined: 1 });
  });

  it('puts a reading that arrives days late in its event-date partition', async () => {
    const run = await harness.run(air, [aq(airReading('2026-11-25T08:00:00+01:00')), aq(airReading())]);
    expect([...run.curated.keys()].map((k) => k.split('/')[2])).toEqual(['dt=2026-11-25', 'dt=2026-11-29']);
  });

  it('expands an array payload into readings with their own ids; a bad element goes alone to quarantine', async () => {
    const run = await harness.run(air, [aq([airReading('2026-11-29T10:59:00+01:00'), airReading(undefined, { pm25: null }), 7])]);
    expect(run.result).toMatchObject({ received: 3, curated: 1, quarantined: 2, canonicalised: true });
    const ids = [allRows(run)[0]!.message_id, ...run.quarantine.map((q) => q.messageId)];
    expect(ids.map((id) => String(id).slice(-2)).sort()).toEqual(['-0', '-1', '-2']);
    expect(run.quarantine.map((q) => q.reason).sort()).toEqual(['pm25 must be a number, got null', 'reading must be a JSON object, got number']);
  });

  it('leaves undecodable payloads to the reference judge without the pre-pass', async () => {
    const run = await harness.run(air, [aq(airReading()), aq('{"ts": "2026-11-29T11:00:00+01:00", "pm25": 1'), aq(Buffer.from([0xff, 0x00]))]);
    expect(run.result).toMatchObject({ curated: 1, quarantined: 2, canonicalised: false });
    expect(run.quarantine.map((q) => q.reason)).toContain('payload is not valid UTF-8');
  });

  it('decodes a base64 payload that holds JSON readings (as another producer may write it)', async () => {
    const bytes = Buffer.from(JSON.stringify([airReading(), airReading('2026-11-29T11:00:01+01:00')]));
    const line = JSON.stringify({ messageId: 'b64', sensorId: 's-9', receivedAt: '2026-11-29T10:00:05.000Z', payloadBase64: bytes.toString('base64') });
    const run = await harness.run(air, [line]);
    expect(run.result).toMatchObject({ received: 2, curated: 2, canonicalised: true });
    expect(allRows(run).map((r) => r.message_id).sort()).toEqual(['b64-0', 'b64-1']);
  });

  it('reads base64 payloads as the topic rule writes them in the fast path, with the rows the embedded JSON gives', async () => {
    const readings = [airReading(), airReading('2026-11-29T11:00:01+01:00', { pm25: 0.5 }), airReading(undefined, { no2: -1 })];
    const embedded = await harness.run(air, readings.map((r) => aq(r)));
    const firehose = await harness.run(air, readings.map((r) => ruleRecordLine({ dataset: 'air_quality', payload: r })));
    expect(firehose.result).toMatchObject({ received: 3, curated: 2, quarantined: 1, canonicalised: false });
    expect(firehose.curated).toEqual(embedded.curated);
    expect(firehose.quarantine.map((q) => q.reason)).toEqual(['no2 must be at least 0, got -1']);
  });

  it.each([
    ['a trailing comma', '{"ts":"2026-11-29T11:00:00+01:00","pm25":1,"pm10":2,"no2":3,}', /^payload is not valid JSON/],
    ['NaN in an extra field', '{"ts":"2026-11-29T11:00:00+01:00","pm25":1,"pm10":2,"no2":3,"x":NaN}', /^payload is not valid JSON/],
    ['Infinity as a value', '{"ts":"2026-11-29T11:00:00+01:00","pm25":Infinity,"pm10":2,"no2":3}', /^payload is not valid JSON/],
    ['a duplicate key whose last value is refused', '{"ts":"2026-11-29T11:00:00+01:00","pm25":1,"pm10":2,"no2":3,"pm25":"12,5"}', /^pm25 must be a number, got string "12,5"$/],
    ['nesting deeper than a reading may', `{"ts":"2026-11-29T11:00:00+01:00","pm25":1,"pm10":2,"no2":3,"x":${'['.repeat(40)}${']'.repeat(40)}}`, /^payload nests deeper than 32 levels$/],
    ['a lone surrogate in an extra field', '{"ts":"2026-11-29T11:00:00+01:00","pm25":1,"pm10":2,"no2":3,"note":"\\ud800"}', /^reading\.note is not valid Unicode/],
  ])('holds a base64 payload to what JSON.parse reads: %s is quarantined and the rest of the object curated', async (_what, text, reason) => {
    const run = await harness.run(air, [ruleRecordLine({ dataset: 'air_quality', payload: text }), ruleRecordLine({ dataset: 'air_quality', payload: airReading() })]);
    expect(run.result).toMatchObject({ received: 2, curated: 1, quarantined: 1 });
    expect(run.quarantine[0]!.reason).toMatch(reason);
  });

  it('takes the last of duplicate keys in a base64 payload, as JSON.parse does', async () => {
    const run = await harness.run(air, [ruleRecordLine({ dataset: 'air_quality', payload: '{"ts":"2026-11-29T11:00:00+01:00","pm25":"x","pm10":2,"no2":3,"pm25":4}' })]);
    expect(allRows(run).map((r) => r.pm25)).toEqual([4]);
  });

  it('reads a gzip object of base64 payloads, as Firehose writes it', async () => {
    const dir = await tempDir();
    const rawFile = join(dir, 'raw.jsonl.gz');
    await writeFile(rawFile, gzipSync(`${ruleRecordLine({ dataset: 'air_quality', payload: airReading() })}\n${ruleRecordLine({ dataset: 'air_quality', sensor: 'aq-2', payload: airReading() })}\n`));
    const run = await harness.run(air, [], { rawFile });
    expect(run.result).toMatchObject({ received: 2, curated: 2, canonicalised: false });
  });

  it('resolves duplicate keys the way JSON.parse does (the last one wins)', async () => {
    const run = await harness.run(air, [aq('{"ts":"2026-11-29T11:00:00+01:00","pm25":1,"pm10":2,"no2":3,"pm25":4}')]);
    expect(allRows(run).map((r) => r.pm25)).toEqual([4]);
  });

  it('drops unknown extra fields', async () => {
    const run = await harness.run(air, [aq({ ...airReading(), colour: 'blue', nested: { a: 1 } })]);
    expect(run.result.curated).toBe(1);
    expect(Object.keys(allRows(run)[0]!)).not.toContain('colour');
  });

  it('quarantines a corrupt raw line and curates the rest of the object', async () => {
    const run = await harness.run(air, [aq(airReading()), '{"messageId": "torn', aq(airReading('2026-11-29T11:00:03+01:00'))]);
    expect(run.result).toMatchObject({ received: 3, curated: 2, quarantined: 1 });
    expect(run.quarantine[0]!.reason).toBe('raw line 2 is not valid JSON');
  });

  it('gives unreadable lines ids unique per raw object, so the second object’s is quarantined too, not taken for a duplicate', async () => {
    const claiming = await TransformHarness.create({ claims: true });
    try {
      const first = await claiming.run(air, ['{"torn', aq(airReading())], { name: 'air_quality-20261129T100000000Z-00000001' });
      const second = await claiming.run(air, ['{"torn', aq(airReading('2026-11-29T11:00:09+01:00'))], { name: 'air_quality-20261129T100005000Z-00000002' });
      for (const run of [first, second]) {
        expect(run.result).toMatchObject({ received: 2, curated: 1, quarantined: 1, duplicates: 0 });
        expect(run.quarantine[0]!.reason).toBe('raw line 1 is not valid JSON');
      }
      expect(first.quarantine[0]!.messageId).toBe('air_quality-20261129T100000000Z-00000001#line-1');
      expect(second.quarantine[0]!.messageId).toBe('air_quality-20261129T100005000Z-00000002#line-1');
    } finally {
      claiming.close();
    }
  });

  it('refuses a raw object of another dataset', async () => {
    const dir = await tempDir();
    const rawFile = join(dir, 'x.jsonl');
    await writeFile(rawFile, `${aq(airReading())}\n`);
    await expect(
      transformRawObject(
        { dataset: anpr, rawKey: 'raw/air_quality/dt=2026-11-29/x.jsonl', rawFile, workDir: dir },
        { duckdb: harness.duckdb, pseudonymKey: TEST_KEY },
      ),
    ).rejects.toThrow(/does not belong to dataset "anpr_passage"/);
  });
});

describe('raw objects from another producer', () => {
  /** A raw line with its payload embedded as given, as a producer other than the local ingest may write it. */
  const embedded = (id: string, payload: string) => `{"messageId":"${id}","sensorId":"s-1","receivedAt":"2026-11-29T10:00:05.000Z","payload":${payload}}`;
  const deep = `{"ts":"2026-11-29T11:00:00+01:00","pm25":1,"pm10":2,"no2":3,"x":${'['.repeat(40)}${']'.repeat(40)}}`;
  const counts = (run: Awaited<ReturnType<TransformHarness['run']>>) => {
    const { received, curated, quarantined, duplicates } = run.result;
    return { received, curated, quarantined, duplicates };
  };

  it.each([
    ['alone', [], { received: 1, curated: 0, quarantined: 1, duplicates: 0 }],
    ['beside a reading the SQL reads as it is', [embedded('good', JSON.stringify(airReading()))], { received: 2, curated: 1, quarantined: 1, duplicates: 0 }],
    ['beside an array, which takes the pre-pass', [embedded('arr', `[${JSON.stringify(airReading())}]`)], { received: 2, curated: 1, quarantined: 1, duplicates: 0 }],
  ] as const)('quarantines an embedded reading whose extra field nests deeper than 32 levels, %s', async (_where, neighbours, expected) => {
    const run = await harness.run(air, [embedded('deep', deep), ...neighbours]);
    expect(counts(run)).toEqual(expected);
    expect(run.quarantine.map((q) => [q.messageId, q.reason])).toEqual([['deep', 'payload nests deeper than 32 levels']]);
  });

  it('judges an embedded duplicate key as JSON.parse does, and keeps extra fields of few brackets on the fast path', async () => {
    const run = await harness.run(air, [
      embedded('dup', '{"ts":"2026-11-29T11:00:00+01:00","pm25":"x","pm10":2,"no2":3,"pm25":4}'),
      embedded('extra', JSON.stringify({ ...airReading(), battery: 90, location: { lat: 51.05, lon: 3.72 } })),
    ]);
    expect(counts(run)).toEqual({ received: 2, curated: 2, quarantined: 0, duplicates: 0 });
    expect(run.result.canonicalised).toBe(false);
    expect(allRows(run).find((r) => r.message_id === 'dup')?.pm25).toBe(4);
  });

  it('judges the bytes of a line that carries both bytes and JSON, as the reference judge reads them', async () => {
    const reading = airReading();
    const torn = Buffer.from(JSON.stringify(reading).slice(0, -1)).toString('base64');
    const line = JSON.stringify({ messageId: 'both', sensorId: 's-1', receivedAt: '2026-11-29T10:00:05.000Z', payload: reading, payloadBase64: torn });
    const sized = JSON.stringify({ messageId: 'sized', sensorId: 's-1', receivedAt: '2026-11-29T10:00:05.000Z', payload: reading, payloadBytes: 200_000 });
    const run = await harness.run(air, [line, sized]);
    expect(counts(run)).toEqual({ received: 2, curated: 0, quarantined: 2, duplicates: 0 });
    const reasons = new Map(run.quarantine.map((q) => [q.messageId, q.reason]));
    expect(reasons.get('both')).toMatch(/^payload is not valid JSON/);
    expect(reasons.get('sized')).toBe("payload is 200000 bytes; the limit is 131072 bytes (IoT Core's)");
  });

  // DuckDB's line reader skips space, tab, CR, form feed and vertical tab around a record; the pre-pass and
  // the judge's line finder must see the same records, or a reading fails its object.
  const spaced = [
    '\f',
    aq(airReading()),
    '\v',
    ' \f ',
    aq(airReading(undefined, { pm25: '12,5' })),
    `\f${aq(airReading('2026-11-29T11:00:01+01:00', { no2: -1 }))}\v`,
    `\t${aq(airReading('2026-11-29T11:00:02+01:00'))}\f`,
  ];
  it.each([
    ['alone', [], { received: 4, curated: 2, quarantined: 2, duplicates: 0 }],
    ['beside an array, which takes the pre-pass', [aq([airReading('2026-11-29T11:00:03+01:00')])], { received: 5, curated: 3, quarantined: 2, duplicates: 0 }],
  ] as const)('reads lines of form feeds and vertical tabs as blank, as DuckDB does, %s', async (_where, neighbours, expected) => {
    for (const attempt of [1, 2]) {
      const run = await harness.run(air, [...spaced, ...neighbours], { name: `air_quality-20261129T100000000Z-0000000${attempt}` });
      expect(counts(run)).toEqual(expected);
      expect(run.quarantine.map((q) => q.reason).sort()).toEqual(['no2 must be at least 0, got -1', 'pm25 must be a number, got string "12,5"']);
    }
  });

  it('quarantines a line of other white space (a no-break space, U+2028) that DuckDB refuses, rather than dropping it', async () => {
    const run = await harness.run(air, [aq(airReading()), '\u00a0', '\u2028 ']);
    expect(counts(run)).toEqual({ received: 3, curated: 1, quarantined: 2, duplicates: 0 });
    expect(run.quarantine.map((q) => q.reason).sort()).toEqual(['raw line 2 is not valid JSON', 'raw line 3 is not valid JSON']);
  });

  it.each([
    ['alone', [], { received: 1, curated: 1, quarantined: 0, duplicates: 0 }],
    ['beside an array, which takes the pre-pass', [aq([airReading('2026-11-29T11:00:06+01:00'), airReading('2026-11-29T11:00:07+01:00')])], { received: 3, curated: 3, quarantined: 0, duplicates: 0 }],
  ] as const)('reads a bare CR between the tokens of a line as JSON white space, not a line break, %s', async (_where, neighbours, expected) => {
    const cr = `{"messageId":"cr-1","sensorId":"s1",\r"receivedAt":"2026-11-29T10:00:05.000Z",\r"payload":${JSON.stringify(airReading())}}\r`;
    const run = await harness.run(air, [cr, ...neighbours]);
    expect(counts(run)).toEqual(expected);
    expect(allRows(run).map((r) => r.message_id)).toContain('cr-1');
  });

  it('names a number too large for a double as Infinity in its reason', async () => {
    const run = await harness.run(air, [ruleRecordLine({ dataset: 'air_quality', payload: '{"ts":"2026-11-29T11:00:00+01:00","pm25":1e400,"pm10":-1e99999,"no2":3}' })]);
    expect(run.quarantine.map((q) => q.reason)).toEqual(['pm25 must be a number, got number Infinity; pm10 must be a number, got number -Infinity']);
  });
});

describe('de-duplication across raw objects', () => {
  it('removes a message already curated from another object, and a replay of the first keeps it', async () => {
    const h = await TransformHarness.create({ claims: true });
    const line = aq(airReading());
    const first = await h.run(air, [line], { name: 'a' });
    const second = await h.run(air, [line, aq(airReading('2026-11-29T11:00:09+01:00'))], { name: 'b' });
    const replay = await h.run(air, [line], { name: 'a' });
    h.close();
    expect(first.result).toMatchObject({ curated: 1, duplicates: 0 });
    expect(second.result).toMatchObject({ received: 2, curated: 1, duplicates: 1 });
    expect(replay.result).toMatchObject({ curated: 1, duplicates: 0 });
  });
});

describe('personal data in the transform', () => {
  const passage = (plate: string, extra: Record<string, unknown> = {}) =>
    arrivalLine({ dataset: 'anpr_passage', sensor: 'cam-1', payload: { ts: '2026-11-29T10:59:00+01:00', direction: 'in', lane: 1, plate, confidence: 0.9, ...extra } });

  it('never writes a plate in clear text to curated or quarantine', async () => {
    const plates = ['1-ABC-123', '2-XYZ-987', '1-QRS-555', '7-MNO-321'];
    const run = await harness.run(anpr, [
      passage(plates[0]!),
      passage(plates[1]!, { lane: 'two' }),
      passage(plates[2]!, { direction: plates[2] }),
      arrivalLine({ dataset: 'anpr_passage', sensor: 'cam-1', payload: `{"plate":"${plates[3]}", "ts":` }),
    ]);
    expect(run.result).toMatchObject({ received: 4, curated: 1, quarantined: 3 });
    for (const [key, bytes] of run.bytes) {
      const text = bytes.toString('latin1');
      for (const plate of plates) {
        expect(text, key).not.toContain(plate);
        expect(text, key).not.toContain(plate.replace(/-/g, ''));
      }
    }
    expect(allRows(run)[0]!.plate).toBe(pseudonym(TEST_KEY, plates[0]!));
    expect(run.quarantine.find((q) => q.reason.startsWith('payload'))?.payloadOmitted).toMatch(/raw object keeps it/);
  });

  it('pseudonymises a plate the fast path leaves to the reference judge (non-ASCII) the same way', async () => {
    const run = await harness.run(anpr, [passage('1-ÄBC-123'), passage('1-abc-123')]);
    const plates = allRows(run).map((r) => r.plate);
    expect(plates).toContain(pseudonym(TEST_KEY, '1-ÄBC-123'));
    expect(plates).toContain(pseudonym(TEST_KEY, '1-ABC-123'));
  });
});

describe('curated Parquet in an independent reader (hyparquet)', () => {
  it('has timestamps as timestamps, numbers as numbers, text as text', async () => {
    const { result } = await harness.run(air, [aq(airReading('2026-11-29T11:00:00.250+01:00'))]);
    const output = result.outputs[0]!;
    const file = await asyncBufferFromFile(output.file);
    const metadata = await parquetMetadataAsync(file);
    const types = Object.fromEntries(
      parquetSchema(metadata).children.map((c) => [c.element.name, [c.element.type, c.element.logical_type?.type ?? c.element.converted_type]]),
    );
    expect(types).toEqual({
      sensor_id: ['BYTE_ARRAY', 'UTF8'],
      received_at: ['INT64', 'TIMESTAMP'],
      message_id: ['BYTE_ARRAY', 'UTF8'],
      format: ['BYTE_ARRAY', 'UTF8'],
      ts: ['INT64', 'TIMESTAMP'],
      pm25: ['DOUBLE', undefined],
      pm10: ['DOUBLE', undefined],
      no2: ['DOUBLE', undefined],
    });
    const [row] = await parquetReadObjects({ file });
    expect(row!.ts).toEqual(new Date('2026-11-29T10:00:00.250Z'));
    expect(row!.pm25).toBe(12.5);
  });
});

describe('reading records back by position', () => {
  it('skips blank lines as the JSON reader does, and reads gzip objects', async () => {
    const { recordsAt } = await import('../../functions/core/raw-lines.ts');
    const { gzipSync } = await import('node:zlib');
    const dir = await tempDir();
    const text = '{"n":0}\n\n  \n{"n":1}\r\n{"n":2}\n{"n":3}';
    await writeFile(join(dir, 'a.jsonl'), text);
    await writeFile(join(dir, 'a.jsonl.gz'), gzipSync(text));
    for (const file of ['a.jsonl', 'a.jsonl.gz']) {
      const found: [number, number][] = [];
      // Batches of any size, a last record without its newline, and a position past the end.
      for await (const batch of recordsAt(join(dir, file), [[{ position: 1 }], [], [{ position: 3 }, { position: 9 }]])) {
        for (const { position, text: line } of batch) found.push([position, JSON.parse(line).n]);
      }
      expect(found).toEqual([[1, 1], [3, 3]]);
    }
  });

  it('finds every wanted record of a large object, across chunk and batch boundaries', async () => {
    const { recordsAt } = await import('../../functions/core/raw-lines.ts');
    const dir = await tempDir();
    const lines = Array.from({ length: 50_000 }, (_, n) => JSON.stringify({ n, pad: 'x'.repeat(n % 97) }));
    await writeFile(join(dir, 'big.jsonl'), lines.join('\n') + '\n');
    const wanted = Array.from({ length: 50_000 }, (_, n) => n).filter((n) => n % 7 === 0 || n % 11 === 3);
    const batches = Array.from({ length: Math.ceil(wanted.length / 1000) }, (_, i) => wanted.slice(i * 1000, i * 1000 + 1000).map((position) => ({ position })));
    const found: number[] = [];
    for await (const batch of recordsAt(join(dir, 'big.jsonl'), batches)) {
      for (const { position, text } of batch) {
        expect(JSON.parse(text).n).toBe(position);
        found.push(position);
      }
    }
    expect(found).toEqual(wanted);
  });
});
