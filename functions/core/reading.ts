import type { z } from 'zod';
import { isUtf8 } from 'node:buffer';
import { EVENT_TIME_FIELD, NATIVE_FORMAT, type Dataset } from '../../datasets/index.ts';
import { elementMessageId, MAX_PAYLOAD_BYTES, SENSOR_ID_PATTERN, type RawRecord } from './envelope.ts';
import { pseudonym } from './pseudonymise.ts';
import { inInstantRange, INSTANT_RANGE_TEXT, isoToMicros, microsToDate, microsToIso } from './timestamps.ts';

/** How the transform judges event times against arrival times. */
export interface TransformPolicy {
  /**
   * Seconds an event time may lie after its arrival. A day keeps a reading
   * whose sensor clock is a little ahead, or that a test wrote with a fixed
   * time, and still refuses a clock that jumped into the future.
   * @default 86400
   */
  readonly futureToleranceSeconds: number;
  /**
   * Days an event time may lie before its arrival. Late readings within it
   * (a sensor's backlog after an outage) are curated in their event-date
   * partition; older ones are a clock reset (the epoch, 2000-01-01) or stale.
   * @default 366
   */
  readonly maxLatenessDays: number;
}

/** The policy the transform applies unless configured otherwise. */
export const TRANSFORM_DEFAULTS: TransformPolicy = Object.freeze({ futureToleranceSeconds: 86_400, maxLatenessDays: 366 });

/** A value in a curated row: timestamps are microseconds since the epoch (UTC). */
export type CellValue = string | number | boolean | null;

/** One curated row: envelope columns, the dataset's fields, and the partition `dt`. */
export type CuratedRow = Record<string, CellValue>;

/** One reading of a raw record, with the id it is de-duplicated by. */
export interface Arrival {
  readonly messageId: string;
  readonly sensorId: string;
  readonly receivedAt: string;
  /** @default NATIVE_FORMAT */
  readonly format?: string;
}

/** What the transform decides about one reading. */
export type Judgement =
  | { readonly ok: true; readonly row: CuratedRow }
  | { readonly ok: false; readonly reason: string };

/** What the judge needs besides the reading. */
export interface JudgeContext {
  readonly policy: TransformPolicy;
  readonly pseudonymKey: Uint8Array;
}

const MICROS_PER_SECOND = 1_000_000;
const MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND;

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  // JSON.parse reads 1e400 as Infinity, which JSON.stringify would show as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (nestsDeeperThan(value, 8)) return '(a deeply nested value)';
  const text = JSON.stringify(value, nonFiniteAsText) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function nonFiniteAsText(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

/** How deep a reading may nest. Deeper values are refused before anything serialises them. */
export const MAX_NESTING = 32;

/** Whether a JSON value nests deeper than a limit; iterative, so any depth is safe to ask about. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  // Two parallel stacks and no copies of arrays: this runs over every payload, some of them 65,000 elements long.
  const values: object[] = [];
  const depths: number[] = [];
  const visit = (v: unknown, depth: number) => {
    if (typeof v === 'object' && v !== null) {
      values.push(v);
      depths.push(depth);
    }
  };
  visit(value, 0);
  while (values.length > 0) {
    const v = values.pop() as object;
    const depth = depths.pop() as number;
    if (depth >= limit) return true;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) visit(v[i], depth + 1);
    } else {
      for (const key in v) visit((v as Record<string, unknown>)[key], depth + 1);
    }
  }
  return false;
}

/** 'null', 'an array', 'an object' or the typeof of a value, for reasons. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
};

function describeIssue(dataset: Dataset, issue: z.core.$ZodIssue, input: Record<string, unknown>): string {
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : 'reading';
  const value = issue.path.length === 1 ? input[String(issue.path[0])] : undefined;
  const withheld = hasPersonalData(dataset) && !clearForPersonalDataset(dataset, field, value);
  const got = withheld ? '(value withheld: may be personal data)' : show(value);
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return `${field} is required`;
      return `${field} must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${value === null ? 'null' : `${typeName(value)} ${got}`}`;
    case 'too_small': {
      const bound = issue.origin === 'string' ? `${issue.minimum} characters` : String(issue.minimum);
      return `${field} must be ${issue.inclusive ? 'at least' : 'greater than'} ${bound}, got ${issue.origin === 'string' ? `${String(value).length} characters` : got}`;
    }
    case 'too_big': {
      const bound = issue.origin === 'string' ? `${issue.maximum} characters` : String(issue.maximum);
      return `${field} must be ${issue.inclusive ? 'at most' : 'less than'} ${bound}, got ${issue.origin === 'string' ? `${String(value).length} characters` : got}`;
    }
    case 'invalid_format':
      if (field === EVENT_TIME_FIELD) return `${field} must be an ISO 8601 time with offset (e.g. 2026-11-29T10:00:00+01:00), got ${got}`;
      return `${field} must match ${issue.pattern ?? issue.format}, got ${got}`;
    case 'invalid_value':
      return `${field} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${got}`;
    case 'not_multiple_of':
      return `${field} must be a multiple of ${String(issue.divisor)}, got ${got}`;
    default:
      return `${field}: ${issue.message}`;
  }
}

/** Why a sensor id is refused, or undefined when it is a valid thing name. */
export function sensorIdProblem(sensorId: string): string | undefined {
  if (SENSOR_ID_PATTERN.test(sensorId)) return undefined;
  return `sensor id ${show(sensorId)} is not a valid thing name (1 to 128 of A-Z a-z 0-9 : _ -)`;
}

function clockProblem(tsMicros: number, receivedMicros: number, policy: TransformPolicy): string | undefined {
  const ahead = tsMicros - receivedMicros;
  if (ahead > policy.futureToleranceSeconds * MICROS_PER_SECOND) {
    return `ts ${microsToIso(tsMicros)} lies ${Math.round(ahead / MICROS_PER_SECOND)} s after its arrival at ${microsToIso(receivedMicros)} (at most ${policy.futureToleranceSeconds} s allowed: sensor clock ahead?)`;
  }
  if (-ahead > policy.maxLatenessDays * MICROS_PER_DAY) {
    return `ts ${microsToIso(tsMicros)} lies ${Math.floor(-ahead / MICROS_PER_DAY)} days before its arrival at ${microsToIso(receivedMicros)} (at most ${policy.maxLatenessDays} days allowed: sensor clock reset?)`;
  }
  return undefined;
}

/**
 * Judges one reading: validates it against the dataset's schema, the sensor
 * id and the clock policy; on success returns the curated row, with the event
 * time in UTC and personal-data fields pseudonymised.
 */
export function judgeReading(dataset: Dataset, arrival: Arrival, reading: unknown, context: JudgeContext): Judgement {
  const sensorProblem = sensorIdProblem(arrival.sensorId);
  if (sensorProblem) return { ok: false, reason: sensorProblem };
  if (typeof reading !== 'object' || reading === null || Array.isArray(reading)) {
    return { ok: false, reason: `reading must be a JSON object, got ${typeName(reading)}` };
  }
  const input = reading as Record<string, unknown>;
  const parsed = dataset.reading.safeParse(input);
  if (!parsed.success) {
    return { ok: false, reason: parsed.error.issues.map((issue) => describeIssue(dataset, issue, input)).join('; ') };
  }
  const receivedMicros = isoToMicros(arrival.receivedAt);
  if (receivedMicros === undefined) return { ok: false, reason: `receivedAt ${show(arrival.receivedAt)} is not an ISO 8601 time` };
  const data = parsed.data as Record<string, unknown>;
  const tsMicros = isoToMicros(String(data[EVENT_TIME_FIELD]));
  if (tsMicros === undefined) return { ok: false, reason: `ts ${show(data[EVENT_TIME_FIELD])} is not a valid time` };
  if (!inInstantRange(tsMicros)) return { ok: false, reason: `ts ${show(data[EVENT_TIME_FIELD])} lies outside the times the platform stores (${INSTANT_RANGE_TEXT}): a broken clock?` };
  const clock = clockProblem(tsMicros, receivedMicros, context.policy);
  if (clock) return { ok: false, reason: clock };

  const row: CuratedRow = {
    sensor_id: arrival.sensorId,
    received_at: receivedMicros,
    message_id: arrival.messageId,
    format: arrival.format ?? NATIVE_FORMAT,
  };
  for (const field of dataset.fields) {
    const value = field.name === EVENT_TIME_FIELD ? tsMicros : data[field.name];
    if (value === undefined || value === null) row[field.name] = null;
    else if (field.personal) row[field.name] = pseudonym(context.pseudonymKey, String(value));
    else row[field.name] = value as CellValue;
  }
  row.dt = microsToDate(tsMicros);
  return { ok: true, row };
}

/**
 * A raw record's payload, decoded into readings or refused whole. An array
 * payload is one reading per element, each with its own id ({@link readingId}).
 */
export type DecodedPayload =
  | { readonly ok: true; readonly messageId: string; readonly array: boolean; readonly values: readonly unknown[] }
  | { readonly ok: false; readonly reason: string };

/** The id of the i-th reading of a decoded payload: the message id, or an element id for an array. */
export function readingId(decoded: { readonly messageId: string; readonly array: boolean }, index: number): string {
  return decoded.array ? elementMessageId(decoded.messageId, index) : decoded.messageId;
}

/**
 * Decodes the payload of a raw record: JSON kept as JSON, bytes checked for
 * size, UTF-8 and JSON; an array becomes one reading per element, each with
 * its own id.
 */
export function decodePayload(record: RawRecord, options: { readonly personal?: boolean } = {}): DecodedPayload {
  let value: unknown;
  if (record.payloadBytes !== undefined) {
    return { ok: false, reason: `payload is ${record.payloadBytes} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes (IoT Core's)` };
  }
  if (record.payloadBase64 !== undefined) {
    const bytes = Buffer.from(record.payloadBase64, 'base64');
    if (bytes.length > MAX_PAYLOAD_BYTES) {
      return { ok: false, reason: `payload is ${bytes.length} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes (IoT Core's)` };
    }
    if (!isUtf8(bytes)) return { ok: false, reason: 'payload is not valid UTF-8' };
    const text = bytes.toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (error) {
      // The parser quotes the text it stumbled on: in a personal-data dataset that text may be a plate.
      if (options.personal ?? false) return { ok: false, reason: 'payload is not valid JSON' };
      return { ok: false, reason: `payload is not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
    }
  } else if ('payload' in record) {
    value = record.payload;
  } else {
    return { ok: false, reason: 'raw record has no payload' };
  }
  if (nestsDeeperThan(value, MAX_NESTING)) return { ok: false, reason: `payload nests deeper than ${MAX_NESTING} levels` };
  if (Array.isArray(value)) {
    if (value.length === 0) return { ok: false, reason: 'payload is an empty array: no readings' };
    return { ok: true, messageId: record.messageId, array: true, values: value };
  }
  return { ok: true, messageId: record.messageId, array: false, values: [value] };
}

/**
 * Text in the event-time field that reads as a date or a time and nothing
 * else: four-digit year first, so it cannot spell a plate or a name.
 */
const TIME_TEXT = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d{1,12})?)?)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

/** Values that cannot spell a plate or a name wherever they sit: null and the booleans. */
function harmless(value: unknown): boolean {
  return value === null || value === undefined || typeof value === 'boolean';
}

/**
 * Whether a value of a personal-data dataset may appear in clear text in a
 * reason or in quarantine. Only what is provably harmless may: null and
 * booleans; a number its declared numeric field accepts (in range, so it
 * shows no more than curated would: a plate's digits sent as `lane` do not
 * pass); a declared enum member; a time in `ts`. Anything else may hold
 * personal data (a plate as a number, in its own field or another, or under
 * an unknown key), so it may not.
 */
function clearForPersonalDataset(dataset: Dataset, field: string, value: unknown): boolean {
  if (harmless(value)) return true;
  const spec = dataset.fields.find((f) => f.name === field);
  if (!spec || spec.personal) return false;
  if (typeof value === 'number') return (spec.kind === 'double' || spec.kind === 'bigint') && dataset.reading.shape[field]?.safeParse(value).success === true;
  if (typeof value !== 'string') return false;
  if (spec.enum?.includes(value)) return true;
  return spec.name === EVENT_TIME_FIELD && TIME_TEXT.test(value);
}

/**
 * What quarantine may keep of a rejected reading. Datasets without personal
 * data keep it as it arrived. For the others every value that is not
 * provably harmless (see clearForPersonalDataset) is replaced by its
 * pseudonym: a payload that is not an object, the elements of an array, the
 * values under unknown keys, and those keys themselves, so no personal value
 * reaches quarantine in clear text, whatever its type or place.
 */
export function quarantinePayload(dataset: Dataset, value: unknown, pseudonymKey: Uint8Array): unknown {
  if (!hasPersonalData(dataset)) return value;
  // A value is concealed whole, as the text it arrived as: a plate sent as a number gets the plate's pseudonym.
  const conceal = (v: unknown) => (harmless(v) ? v : pseudonym(pseudonymKey, typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))));
  if (Array.isArray(value)) return value.map(conceal);
  if (typeof value !== 'object' || value === null) return conceal(value);
  const known = new Set(dataset.fields.map((f) => f.name));
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    let key = k;
    if (!known.has(k)) {
      key = pseudonym(pseudonymKey, k);
      // Keys that canonicalise alike (a-b, AB) share a pseudonym; neither is lost.
      for (let n = 2; key in kept; n++) key = `${pseudonym(pseudonymKey, k)}#${n}`;
    }
    kept[key] = known.has(k) && clearForPersonalDataset(dataset, k, v) ? v : conceal(v);
  }
  return kept;
}

/** Whether a dataset declares personal-data fields. */
export function hasPersonalData(dataset: Dataset): boolean {
  return dataset.governance.personalData.length > 0;
}
