import { describe, expect, it } from 'vitest';
import { getDataset } from '../../datasets/index.ts';
import { pseudonym } from '../../functions/core/pseudonymise.ts';
import {
  decodePayload,
  judgeReading,
  readingId,
  quarantinePayload,
  TRANSFORM_DEFAULTS,
  type Judgement,
} from '../../functions/core/reading.ts';
import { airReading, TEST_KEY } from '../helpers/fixtures.ts';

const air = getDataset('air_quality');
const anpr = getDataset('anpr_passage');
const traffic = getDataset('traffic_count');
const context = { policy: TRANSFORM_DEFAULTS, pseudonymKey: TEST_KEY };
const arrival = { messageId: 'm1', sensorId: 'aq-1', receivedAt: '2026-11-29T10:00:05.000Z' };

const reason = (j: Judgement) => (j.ok ? 'accepted' : j.reason);

describe('judging a reading', () => {
  it('curates a valid reading: envelope, UTC event time in microseconds, event date', () => {
    const judgement = judgeReading(air, arrival, airReading('2026-11-29T11:00:00+01:00'), context);
    expect(judgement).toEqual({
      ok: true,
      row: {
        sensor_id: 'aq-1',
        received_at: Date.parse('2026-11-29T10:00:05Z') * 1000,
        message_id: 'm1',
        format: 'datastroom',
        ts: Date.parse('2026-11-29T10:00:00Z') * 1000,
        pm25: 12.5,
        pm10: 20,
        no2: 31,
        dt: '2026-11-29',
      },
    });
  });

  it('drops unknown extra fields (documented: they are not part of the dataset)', () => {
    const judgement = judgeReading(air, arrival, { ...airReading(), colour: 'blue' }, context);
    expect(judgement.ok && Object.keys(judgement.row)).not.toContain('colour');
  });

  it.each([
    ['a Belgian decimal comma', { pm25: '12,5' }, 'pm25 must be a number, got string "12,5"'],
    ['NaN as text', { pm25: 'NaN' }, 'pm25 must be a number, got string "NaN"'],
    ['null', { pm10: null }, 'pm10 must be a number, got null'],
    ['a missing field', { pm10: undefined }, 'pm10 is required'],
    ['a negative concentration', { no2: -1 }, 'no2 must be at least 0, got -1'],
    ['an implausible concentration', { pm10: 2500 }, 'pm10 must be at most 2000, got 2500'],
    // JSON.parse reads a number too large for a double (1e400) as Infinity.
    ['a number too large for a double', { pm25: JSON.parse('1e400') }, 'pm25 must be a number, got number Infinity'],
    ['a negative number too large for a double', { pm10: JSON.parse('-1e99999999999999999999') }, 'pm10 must be a number, got number -Infinity'],
  ])('refuses %s, naming the field', (_name, change, expected) => {
    expect(reason(judgeReading(air, arrival, airReading(undefined, change), context))).toBe(expected);
  });

  it('names every bad field of one reading', () => {
    expect(reason(judgeReading(air, arrival, airReading(undefined, { pm25: 'x', no2: -3 }), context))).toBe(
      'pm25 must be a number, got string "x"; no2 must be at least 0, got -3',
    );
  });

  it.each([
    ['without offset', '2026-11-29T11:00:00', 'ts must be an ISO 8601 time with offset (e.g. 2026-11-29T10:00:00+01:00), got "2026-11-29T11:00:00"'],
    ['as epoch seconds', 1764410400, 'ts must be a string, got number 1764410400'],
    ['missing', undefined, 'ts is required'],
  ])('refuses a ts %s', (_name, ts, expected) => {
    expect(reason(judgeReading(air, arrival, { ...airReading(), ts }, context))).toBe(expected);
  });

  it('refuses a ts further ahead of its arrival than the tolerance (clock ahead)', () => {
    expect(reason(judgeReading(air, arrival, airReading('2026-11-30T10:00:06Z'), context))).toMatch(
      /^ts 2026-11-30T10:00:06.000Z lies 86401 s after its arrival .* \(at most 86400 s allowed/,
    );
    expect(judgeReading(air, arrival, airReading('2026-11-30T10:00:04Z'), context).ok).toBe(true);
  });

  it('refuses a ts at the epoch (clock reset) and accepts one days late, in its own date', () => {
    expect(reason(judgeReading(air, arrival, airReading('1970-01-01T00:00:00Z'), context))).toMatch(
      /days before its arrival .* \(at most 366 days allowed: sensor clock reset\?\)/,
    );
    const late = judgeReading(air, arrival, airReading('2026-11-25T08:00:00+01:00'), context);
    expect(late.ok && late.row.dt).toBe('2026-11-25');
  });

  it('follows a configured clock policy', () => {
    const strict = { ...context, policy: { futureToleranceSeconds: 0, maxLatenessDays: 1 } };
    expect(judgeReading(air, arrival, airReading('2026-11-27T10:00:00Z'), strict).ok).toBe(false);
    expect(judgeReading(air, arrival, airReading('2026-11-29T10:00:06Z'), strict).ok).toBe(false);
  });

  it('refuses a reading that is not an object', () => {
    expect(reason(judgeReading(air, arrival, 42, context))).toBe('reading must be a JSON object, got number');
    expect(reason(judgeReading(air, arrival, [1], context))).toBe('reading must be a JSON object, got an array');
  });

  it.each(['a b', '..', 'a=b', 'x/y', 'tab\there', ''])('refuses sensor id %j that is not a thing name', (sensorId) => {
    expect(reason(judgeReading(air, { ...arrival, sensorId }, airReading(), context))).toMatch(/^sensor id .* is not a valid thing name/);
  });

  it('accepts integers written as 5.0 and refuses 5.5 for an integer field', () => {
    const reading = { ts: '2026-11-29T10:00:00Z', interval_s: 900, cars: 5.0, bikes: 1, pedestrians: 2, heavy_vehicles: 0 };
    expect(judgeReading(traffic, arrival, reading, context).ok).toBe(true);
    expect(reason(judgeReading(traffic, arrival, { ...reading, interval_s: 900.5 }, context))).toBe('interval_s must be an integer, got number 900.5');
  });

  it('keeps the fractional counts extrapolating counters report, and leaves a mode not counted empty', () => {
    const judgement = judgeReading(traffic, arrival, { ts: '2026-11-29T10:00:00Z', interval_s: 3600, cars: 123.45 }, context);
    expect(judgement.ok && [judgement.row.cars, judgement.row.bikes]).toEqual([123.45, null]);
  });
});

describe('personal data', () => {
  const passage = { ts: '2026-11-29T10:00:00Z', direction: 'in', lane: 1, plate: '1-ABC-123', confidence: 0.93 };

  it('is pseudonymised in the curated row', () => {
    const judgement = judgeReading(anpr, arrival, passage, context);
    expect(judgement.ok && judgement.row.plate).toBe(pseudonym(TEST_KEY, '1-ABC-123'));
  });

  it('is never echoed in a reason, even in the wrong field', () => {
    const r1 = reason(judgeReading(anpr, arrival, { ...passage, plate: 1e19 }, context));
    const r2 = reason(judgeReading(anpr, arrival, { ...passage, direction: '1-ABC-123' }, context));
    const r3 = reason(judgeReading(anpr, arrival, { ...passage, plate: '1-ABC-123-TOO-LONG-FOR-A-PLATE' }, context));
    expect(r2).toBe('direction must be one of "in", "out", got (value withheld: may be personal data)');
    for (const r of [r1, r2, r3]) expect(r).not.toMatch(/ABC/);
  });

  it('is replaced by its pseudonym in quarantine, with every other text that could hold it', () => {
    const kept = quarantinePayload(anpr, { ...passage, lane: 'x', note: 'owner J. Peeters', direction: 'in' }, TEST_KEY) as Record<string, unknown>;
    expect(kept.plate).toBe(pseudonym(TEST_KEY, '1-ABC-123'));
    expect(kept[pseudonym(TEST_KEY, 'note')]).toBe(pseudonym(TEST_KEY, 'owner J. Peeters'));
    expect(kept.lane).toBe(pseudonym(TEST_KEY, 'x'));
    expect(kept).toMatchObject({ ts: passage.ts, direction: 'in', confidence: 0.93 });
  });

  it('is concealed whatever its type or place: a number, a time-like plate, a key, an array element', () => {
    const conceal = (value: unknown) => quarantinePayload(anpr, value, TEST_KEY);
    const kept = [
      { ...passage, plate: 1234567 },
      { ...passage, plate: 'TZT-123', ts: '2TZ-123' },
      { ...passage, '1-ABC-123': 'seen', cars: [1, '2-XYZ-999'] },
      '3-QQQ-333',
    ].map(conceal) as Record<string, unknown>[];
    const text = JSON.stringify(kept);
    for (const plate of ['1234567', 'TZT', '2TZ', 'ABC', 'XYZ', 'QQQ']) expect(text).not.toContain(plate);
    // A plate sent as a number gets the plate's pseudonym, so it still links.
    expect(kept[0]!.plate).toBe(pseudonym(TEST_KEY, '1234567'));
    expect(kept[2]![pseudonym(TEST_KEY, '1-ABC-123')]).toBe(pseudonym(TEST_KEY, 'seen'));
    expect(kept[3]).toBe(pseudonym(TEST_KEY, '3-QQQ-333'));
    // What is provably harmless stays readable: numbers in numeric fields, enum values, a time in ts.
    expect(kept[0]).toMatchObject({ ts: passage.ts, direction: 'in', lane: 1, confidence: 0.93 });
  });

  it('conceals a bare number anywhere but in range in a numeric field: the whole payload, an array element, an unknown key', () => {
    const conceal = (value: unknown) => quarantinePayload(anpr, value, TEST_KEY);
    // An all-digit plate sent as the whole reading, or as readings of an array, or beside the fields.
    expect(conceal(987650017)).toBe(pseudonym(TEST_KEY, '987650017'));
    expect(conceal([987650015, { plate: 987650016 }, true, null])).toEqual([
      pseudonym(TEST_KEY, '987650015'),
      pseudonym(TEST_KEY, '{"plate":987650016}'),
      true,
      null,
    ]);
    const kept = conceal({ ...passage, id: 987650018, seen: true, gone: null, direction: 987650019, lane: 987650021 }) as Record<string, unknown>;
    expect(kept[pseudonym(TEST_KEY, 'id')]).toBe(pseudonym(TEST_KEY, '987650018'));
    expect(kept.direction).toBe(pseudonym(TEST_KEY, '987650019'));
    // A numeric field's own value only in its range: what curated would show.
    expect(kept.lane).toBe(pseudonym(TEST_KEY, '987650021'));
    expect(kept.confidence).toBe(passage.confidence);
    // Null and booleans cannot spell a plate, wherever they are.
    expect(kept[pseudonym(TEST_KEY, 'seen')]).toBe(true);
    expect(kept[pseudonym(TEST_KEY, 'gone')]).toBeNull();
    expect(JSON.stringify(kept)).not.toMatch(/98765001/);
  });

  it('never reaches a reason, whatever its type', () => {
    const reasons = [
      reason(judgeReading(anpr, arrival, { ...passage, plate: 1234567 }, context)),
      reason(judgeReading(anpr, arrival, { ...passage, ts: 'TZT-123' }, context)),
      reason(judgeReading(anpr, arrival, { ...passage, lane: '1-ABC-123' }, context)),
    ];
    expect(reasons[0]).toBe('plate must be a string, got number (value withheld: may be personal data)');
    // A number in a field that holds text is withheld too, and one out of its numeric field's range.
    expect(reason(judgeReading(anpr, arrival, { ...passage, direction: 987650017 }, context))).toBe(
      'direction must be one of "in", "out", got (value withheld: may be personal data)',
    );
    expect(reason(judgeReading(anpr, arrival, { ...passage, lane: 987650018 }, context))).toBe('lane must be at most 8, got (value withheld: may be personal data)');
    // Datasets without personal data say what they got.
    expect(reason(judgeReading(traffic, arrival, { ts: '2026-11-29T10:00:00Z', interval_s: 900, cars: -5, bikes: 1, pedestrians: 2, heavy_vehicles: 0 }, context))).toBe('cars must be at least 0, got -5');
    for (const r of reasons) expect(r).not.toMatch(/1234567|TZT|ABC/);
    const decoded = decodePayload(
      { messageId: 'm', sensorId: 's', receivedAt: '2026-11-29T10:00:00Z', payloadBase64: Buffer.from('1-ABC-123').toString('base64') },
      { personal: true },
    );
    expect(decoded).toEqual({ ok: false, reason: 'payload is not valid JSON' });
  });

  it('leaves quarantine payloads of datasets without personal data as they arrived', () => {
    const reading = airReading(undefined, { pm25: '12,5' });
    expect(quarantinePayload(air, reading, TEST_KEY)).toBe(reading);
  });
});

describe('decoding a payload', () => {
  const record = { messageId: 'm', sensorId: 's', receivedAt: '2026-11-29T10:00:00Z' };

  it('gives each element of an array its own id', () => {
    const decoded = decodePayload({ ...record, payload: [{ a: 1 }, { a: 2 }] });
    expect(decoded).toEqual({ ok: true, messageId: 'm', array: true, values: [{ a: 1 }, { a: 2 }] });
    expect(decoded.ok && [0, 1].map((i) => readingId(decoded, i))).toEqual(['m-0', 'm-1']);
    const single = decodePayload({ ...record, payload: { a: 1 } });
    expect(single.ok && readingId(single, 0)).toBe('m');
  });

  it.each([
    ['invalid UTF-8', { payloadBase64: Buffer.from([0xc3, 0x28]).toString('base64') }, 'payload is not valid UTF-8'],
    ['malformed JSON', { payloadBase64: Buffer.from('{"a":').toString('base64') }, /^payload is not valid JSON: /],
    ['an empty array', { payload: [] }, 'payload is an empty array: no readings'],
    ['an oversized payload', { payloadBytes: 200_000, payloadBase64: '' }, 'payload is 200000 bytes; the limit is 131072 bytes (IoT Core\'s)'],
  ])('refuses %s with a reason', (_name, fields, expected) => {
    const decoded = decodePayload({ ...record, ...fields });
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toMatch(expected);
  });
});

describe('deeply nested payloads', () => {
  it('are refused before anything serialises them', async () => {
    const { nestsDeeperThan } = await import('../../functions/core/reading.ts');
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
    expect(nestsDeeperThan(deep, 32)).toBe(true);
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 32)).toBe(false);
    const decoded = decodePayload({ messageId: 'm', sensorId: 's', receivedAt: '2026-11-29T10:00:00Z', payload: { ts: 'x', pm25: deep } });
    expect(decoded).toEqual({ ok: false, reason: 'payload nests deeper than 32 levels' });
  });
});
