/**
 * The format engine: a message in any format a dataset accepts becomes
 * readings in the platform's own shape (flat JSON, `ts` with offset, values
 * in the field's unit), each with its sensor id and format, or a refusal
 * whose reason names the path. The reference judge then judges a mapped
 * reading exactly as one that arrived native.
 */
import { createHash } from 'node:crypto';
import {
  DEFAULT_SENSOR_ZONE,
  EVENT_TIME_FIELD,
  NATIVE_FORMAT,
  type Condition,
  type Dataset,
  type FieldSpec,
  type FormatDeclaration,
  type Paths,
  type TimeSource,
} from '../../datasets/index.ts';
import { follow, parsePath, pathList } from '../../datasets/formats/paths.ts';
import { conversionFactor } from '../../datasets/formats/units.ts';
import { elementMessageId, SENSOR_ID_PATTERN } from './envelope.ts';
import { inInstantRange, isoToMicros, microsToIso } from './timestamps.ts';

/** How a message arrived: its envelope and route (see RawRecord). */
export interface MessageEnvelope {
  /** The id of this message value (an element of an array payload has its element id). */
  readonly messageId: string;
  readonly sensorId: string;
  readonly receivedAt: string;
  /** @default - a device published its own reading */
  readonly via?: string;
  /** @default - recognised from the payload */
  readonly format?: string;
}

/** One reading a message yields: mapped to the platform's shape, or refused with a reason. */
export type MappedReading =
  | { readonly ok: true; readonly messageId: string; readonly sensorId: string; readonly format: string; readonly reading: unknown }
  | { readonly ok: false; readonly messageId: string; readonly sensorId: string; readonly format?: string; readonly reason: string; readonly payload: unknown };

/** The ids of the formats a dataset accepts, its own first. */
export function acceptedFormats(dataset: Dataset): readonly string[] {
  return [NATIVE_FORMAT, ...(dataset.formats ?? []).map((f) => f.id)];
}

/**
 * Whether a payload value is surely in the platform's own format: an
 * object that carries the event time. The fast path's SQL applies the same
 * test (a `ts` key), so the two agree on which lines the pre-pass maps.
 */
export function isNativeShape(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, EVENT_TIME_FIELD);
}

/**
 * Maps one message value (a payload, or one element of an array payload)
 * to its readings: one, or one per item of a multi-reading message. A
 * format the route names is the only one tried; otherwise the payload's
 * shape says which it is.
 */
export function mapPayload(dataset: Dataset, envelope: MessageEnvelope, value: unknown): MappedReading[] {
  const formats = dataset.formats ?? [];
  if (envelope.format !== undefined && envelope.format !== NATIVE_FORMAT) {
    const named = formats.find((f) => f.id === envelope.format);
    if (!named) {
      const reason = `the delivery route names format ${JSON.stringify(envelope.format)}, which ${dataset.id} does not accept (it accepts ${acceptedFormats(dataset).join(', ')})`;
      return [{ ok: false, messageId: envelope.messageId, sensorId: envelope.sensorId, reason, payload: value }];
    }
    const items = itemsOf(named, value);
    if (items === undefined) return [mapItem(dataset, named, envelope, envelope.messageId, value)];
    return eachItem(dataset, envelope, value, items, (item, id) => mapItem(dataset, named, envelope, id, item));
  }
  if (envelope.format === NATIVE_FORMAT || isNativeShape(value)) return [native(dataset, envelope, envelope.messageId, value)];
  for (const format of formats) {
    const items = itemsOf(format, value);
    // Each item of a notification is recognised on its own: one may be normalized, the next keyValues.
    if (items !== undefined) return eachItem(dataset, envelope, value, items, (item, id) => recogniseItem(dataset, envelope, id, item));
  }
  return [recogniseItem(dataset, envelope, envelope.messageId, value)];
}

function eachItem(
  dataset: Dataset,
  envelope: MessageEnvelope,
  value: unknown,
  items: readonly unknown[],
  map: (item: unknown, id: string) => MappedReading,
): MappedReading[] {
  if (items.length === 0) return [{ ok: false, messageId: envelope.messageId, sensorId: envelope.sensorId, reason: 'the message holds no readings (its list of items is empty)', payload: value }];
  return items.map((item, i) => map(item, elementMessageId(envelope.messageId, i)));
}

/** One reading in whichever format recognises it; native where none does and it names a field of the dataset. */
function recogniseItem(dataset: Dataset, envelope: MessageEnvelope, messageId: string, item: unknown): MappedReading {
  if (isNativeShape(item)) return native(dataset, envelope, messageId, item);
  const format = (dataset.formats ?? []).find((f) => recognised(f, item));
  if (format) return mapItem(dataset, format, envelope, messageId, item);
  if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
    // An object naming none of the dataset's fields is no reading of ours with a field missing: it is another format.
    if (Object.keys(item).length > 0 && !dataset.fields.some((f) => Object.hasOwn(item, f.name))) {
      return { ok: false, messageId, sensorId: envelope.sensorId, reason: `payload is in no format ${dataset.id} accepts: ${acceptedFormats(dataset).join(', ')}`, payload: item };
    }
  }
  return native(dataset, envelope, messageId, item);
}

/** A native reading: passed on as it is; through an integration, its sensor is its `sensor_id`. */
function native(dataset: Dataset, envelope: MessageEnvelope, messageId: string, value: unknown): MappedReading {
  const base = { messageId, format: NATIVE_FORMAT };
  if (envelope.via === undefined) return { ok: true, ...base, sensorId: envelope.sensorId, reading: value };
  const sensor = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>).sensor_id : undefined;
  const problem = sensorProblem(sensor, 'sensor_id', envelope.via);
  if (typeof problem === 'string') return { ok: false, ...base, sensorId: envelope.sensorId, reason: problem, payload: value };
  const { sensor_id: _, ...reading } = value as Record<string, unknown>;
  return { ok: true, ...base, sensorId: problem.id, reading };
}

/** The items of a multi-reading message in this format, or undefined when it is not one. */
function itemsOf(format: FormatDeclaration, value: unknown): readonly unknown[] | undefined {
  for (const items of format.items ?? []) {
    const found = follow(value, items.path);
    if (Array.isArray(found) && (items.when ?? []).every((c) => holds(c, value))) return found;
  }
  return undefined;
}

function recognised(format: FormatDeclaration, value: unknown): boolean {
  return format.recognise.every((c) => holds(c, value));
}

function holds(condition: Condition, value: unknown): boolean {
  const found = first(value, condition.path)?.value;
  const is = condition.is ?? 'present';
  if (is === 'absent') return found === undefined;
  if (found === undefined || found === null) return false;
  if (is === 'array' && !Array.isArray(found)) return false;
  if (is === 'object' && (typeof found !== 'object' || Array.isArray(found))) return false;
  if ((is === 'string' || is === 'number') && typeof found !== is) return false;
  if (condition.equals === undefined) return true;
  const allowed: readonly unknown[] = Array.isArray(condition.equals) ? condition.equals : [condition.equals];
  return allowed.includes(found);
}

/** Why a value cannot be a sensor id, or the id. */
function sensorProblem(value: unknown, path: string, via: string): { id: string } | string {
  if (value === undefined || value === null) return `${path} is missing: a reading delivered through ${via} must name its sensor`;
  const id = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof id !== 'string' || !SENSOR_ID_PATTERN.test(id)) {
    return `${path} is not a valid sensor id (1 to 128 of A-Z a-z 0-9 : _ -), got ${typeof id === 'string' ? JSON.stringify(id.slice(0, 60)) : typeof id}`;
  }
  return { id };
}

/** A binary payload decoded in place of the decoded form at `prefix` (see BytesSource). */
interface DecodedBytes {
  readonly prefix: string;
  readonly value: Record<string, number>;
}

function read(item: unknown, path: string, bytes: DecodedBytes | undefined): unknown {
  return bytes !== undefined && path.startsWith(bytes.prefix) ? follow(bytes.value, path.slice(bytes.prefix.length)) : follow(item, path);
}

/** The first of several paths that leads to a value (null counts as absent), with its path. */
function first(item: unknown, paths: Paths, bytes?: DecodedBytes): { path: string; value: unknown } | undefined {
  if (typeof paths === 'string') {
    const value = read(item, paths, bytes);
    return value !== undefined && value !== null ? { path: paths, value } : undefined;
  }
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i] as string;
    const value = read(item, path, bytes);
    if (value !== undefined && value !== null) return { path, value };
  }
  return undefined;
}

/** A value as a reason shows it: its type, and in a dataset without personal data the value itself. */
function shown(value: unknown, personal: boolean): string {
  return personal ? typeName(value) : `${typeName(value)} ${JSON.stringify(value)?.slice(0, 60) ?? String(value)}`;
}

function refusal(messageId: string, sensorId: string, format: string, reason: string, payload: unknown): MappedReading {
  return { ok: false, messageId, sensorId, format, reason, payload };
}

const DECIMAL = /^\s*-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

function mapItem(dataset: Dataset, format: FormatDeclaration, envelope: MessageEnvelope, messageId: string, item: unknown): MappedReading {
  const problems: string[] = [];
  const personal = dataset.governance.personalData.length > 0;
  let decoded: DecodedBytes | undefined;
  const bytes = format.bytes;
  if (bytes && follow(item, bytes.unless) === undefined) {
    if (!bytes.layout) return refusal(messageId, envelope.sensorId, format.id, `${bytes.unless} is missing and ${dataset.id} declares no byte layout for ${bytes.path}: ${bytes.advice}`, item);
    const value = decodeBytes(follow(item, bytes.path), bytes.path, bytes.layout);
    if (typeof value === 'string') return refusal(messageId, envelope.sensorId, format.id, value, item);
    decoded = { prefix: `${bytes.unless}.`, value };
  }
  const computed = format.compute?.(item, { datasetId: dataset.id });
  if (typeof computed === 'string') return refusal(messageId, envelope.sensorId, format.id, computed, item);

  let sensorId = envelope.sensorId;
  if (envelope.via !== undefined) {
    if (format.sensorId === undefined) return refusal(messageId, envelope.sensorId, format.id, `format ${format.id} names no sensor, so it cannot arrive through ${envelope.via}`, item);
    const found = first(item, format.sensorId, decoded);
    const sensor = sensorProblem(found?.value, found?.path ?? pathList(format.sensorId).join(' or '), envelope.via);
    if (typeof sensor === 'string') return refusal(messageId, envelope.sensorId, format.id, sensor, item);
    sensorId = sensor.id;
  }

  const ts = eventTimeOf(format.time, item, decoded, envelope.receivedAt, personal);
  if (typeof ts === 'string') problems.push(ts);

  const reading: Record<string, unknown> = {};
  for (const field of dataset.fields) {
    if (field.name === EVENT_TIME_FIELD) continue;
    if (computed !== undefined && Object.hasOwn(computed, field.name)) {
      if (computed[field.name] !== undefined) reading[field.name] = computed[field.name];
      continue;
    }
    const source = format.fields[field.name];
    if (source === undefined) continue;
    if ('constant' in source) {
      reading[field.name] = source.constant;
      continue;
    }
    const found = first(item, source.path, decoded);
    if (found === undefined) {
      if (field.required) problems.push(`${plainest(source.path)} is missing`);
      continue;
    }
    let v = found.value;
    if (source.values !== undefined) {
      const key = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
      if (key === undefined || !Object.hasOwn(source.values, key)) {
        problems.push(`${found.path} must be one of ${Object.keys(source.values).map((k) => JSON.stringify(k)).join(', ')}, got ${shown(v, personal)}`);
        continue;
      }
      v = source.values[key];
    }
    if (typeof v === 'string' && (source.numberText ?? false) && isNumeric(field)) {
      if (!DECIMAL.test(v)) {
        problems.push(`${found.path} must be a number, got ${shown(v, personal)}`);
        continue;
      }
      v = Number(v);
    }
    const unitAt = source.unitPath !== undefined ? first(item, source.unitPath, decoded) : undefined;
    const unit = unitAt !== undefined ? unitAt.value : source.unit;
    if (unit !== undefined && field.unit !== undefined && unit !== field.unit) {
      if (typeof unit !== 'string') {
        problems.push(`${unitAt?.path ?? 'unit'} must be a unit code, got ${shown(unit, personal)}`);
        continue;
      }
      const factor = conversionFactor(unit, field.unit);
      if (typeof factor === 'string') {
        problems.push(`${unitAt?.path ?? found.path}: ${factor}`);
        continue;
      }
      if (typeof v !== 'number') {
        problems.push(`${found.path} must be a number, got ${shown(v, personal)}`);
        continue;
      }
      // Twelve significant digits: 0.0123 mg/m³ is 12.3 µg/m³, not 12.299999999999999.
      v = factor === 1 ? v : Number((v * factor).toPrecision(12));
    }
    reading[field.name] = v;
  }
  if (problems.length > 0) return { ok: false, messageId, sensorId, format: format.id, reason: problems.join('; '), payload: item };
  const micros = ts as number;
  return {
    ok: true,
    messageId: format.identity === 'sensor-time' ? sensorTimeId(dataset, sensorId, micros) : messageId,
    sensorId,
    format: format.id,
    reading: { [EVENT_TIME_FIELD]: microsToIso(micros), ...reading },
  };
}

/** The path a reason names for a value found nowhere: the first of its fewest steps (`pm25`, not `pm25.value.@value`). */
function plainest(paths: Paths): string {
  return pathList(paths).reduce((a, b) => (parsePath(b).length < parsePath(a).length ? b : a));
}

function isNumeric(field: FieldSpec): boolean {
  return field.kind === 'double' || field.kind === 'bigint';
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** The id of a reading known by its sensor and time: the same reading fetched twice is one. */
export function sensorTimeId(dataset: Dataset, sensorId: string, micros: number): string {
  return createHash('sha256').update(`${dataset.id}\n${sensorId}\n${micros}`).digest('hex').slice(0, 32);
}

/** The event time in microseconds, or why there is none. */
function eventTimeOf(
  time: TimeSource,
  item: unknown,
  decoded: DecodedBytes | undefined,
  receivedAt: string,
  personal: boolean,
): number | string {
  const found = first(item, time.path, decoded);
  if (found === undefined) {
    const arrival = isoToMicros(receivedAt);
    if ((time.orArrival ?? false) && arrival !== undefined) return arrival;
    return `${plainest(time.path)} is missing`;
  }
  const { path, value } = found;
  let micros: number | undefined;
  if (typeof value === 'number') {
    if (time.epoch === undefined) return `${path} must be an ISO 8601 time, got ${shown(value, personal)}`;
    micros = Math.round(value * (time.epoch === 'seconds' ? 1_000_000 : 1000));
  } else if (typeof value === 'string') {
    // An interval (start/end) is observed when it ends.
    const slash = value.indexOf('/');
    micros = timeTextToMicros(slash >= 0 ? value.slice(slash + 1) : value, time.zone ?? DEFAULT_SENSOR_ZONE);
    if (micros === undefined) return `${path} must be an ISO 8601 time (e.g. 2026-11-29T10:00:00+01:00, or without offset in ${time.zone ?? DEFAULT_SENSOR_ZONE}), got ${shown(value, personal)}`;
  } else {
    return `${path} must be a time, got ${shown(value, personal)}`;
  }
  if (!Number.isFinite(micros) || !inInstantRange(micros)) return `${path} is not a time the platform stores, got ${shown(value, personal)}`;
  return micros;
}

const TIME_TEXT = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Microseconds of an ISO 8601 time (`T` or a space between date and time,
 * seconds optional); a time without offset is wall-clock time in `zone`.
 */
export function timeTextToMicros(text: string, zone: string): number | undefined {
  const m = TIME_TEXT.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, offset] = m;
  const hh = Number(h);
  const mm = Number(mi);
  const ss = Number(s ?? 0);
  if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31 || hh > 23 || mm > 59 || ss > 59) return undefined;
  const year = Number(y);
  const micro = frac === undefined ? 0 : Number(frac.slice(0, 6).padEnd(6, '0'));
  let millis = Date.UTC(year, Number(mo) - 1, Number(d), hh, mm, ss);
  // Date.UTC reads the years 0 to 99 as 1900 to 1999.
  if (year < 100) millis = new Date(millis).setUTCFullYear(year);
  if (new Date(millis).getUTCDate() !== Number(d)) return undefined;
  const asUtc = millis * 1000 + micro;
  if (offset === undefined) return asUtc - localOffsetMicros(zone, asUtc);
  if (offset === 'Z' || offset === 'z') return asUtc;
  const sign = offset.startsWith('-') ? -1 : 1;
  const digits = offset.slice(1).replace(':', '');
  const offsetMinutes = digits.length === 4 ? Number(digits.slice(2)) : 0;
  if (offsetMinutes > 59) return undefined;
  const minutes = Number(digits.slice(0, 2)) * 60 + offsetMinutes;
  return asUtc - sign * minutes * MICROS_PER_MINUTE;
}

const MICROS_PER_MINUTE = 60_000_000;

/**
 * The offset of a zone for a wall-clock time (given as if it were UTC). A
 * time that occurs twice (the hour summer time ends) is read as the first,
 * a time that does not occur (the hour it begins) with the offset before it.
 */
function localOffsetMicros(zone: string, wallAsUtc: number): number {
  const day = 86_400_000_000;
  const before = zoneOffsetMinutes(zone, wallAsUtc - day) * MICROS_PER_MINUTE;
  const after = zoneOffsetMinutes(zone, wallAsUtc + day) * MICROS_PER_MINUTE;
  // The larger offset gives the earlier instant; take it where it is the zone's offset at that instant.
  for (const offset of before >= after ? [before, after] : [after, before]) {
    if (zoneOffsetMinutes(zone, wallAsUtc - offset) * MICROS_PER_MINUTE === offset) return offset;
  }
  return before;
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** Minutes a zone is ahead of UTC at an instant. */
function zoneOffsetMinutes(zone: string, micros: number): number {
  let format = zoneFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    zoneFormats.set(zone, format);
  }
  const millis = Math.floor(micros / 1000 / 1000) * 1000;
  const parts = Object.fromEntries(format.formatToParts(new Date(millis)).map((p) => [p.type, p.value]));
  const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return Math.round((wall - millis) / 60_000);
}

/** Reads a binary payload by its layout into the keys a formatter would write, or says why it cannot. */
function decodeBytes(value: unknown, path: string, layout: NonNullable<FormatDeclaration['bytes']>['layout'] & object): Record<string, number> | string {
  if (typeof value !== 'string') return `${path} is missing: the payload has neither its decoded form nor its bytes`;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return `${path} must be base64, got ${JSON.stringify(value.slice(0, 60))}`;
  const bytes = Buffer.from(value, 'base64');
  const sizes = { uint8: 1, int8: 1, uint16be: 2, int16be: 2, uint16le: 2, int16le: 2, uint32be: 4, int32be: 4, uint32le: 4, int32le: 4 } as const;
  const needed = layout.reduce((n, f) => n + sizes[f.type], 0);
  if (bytes.length < needed) return `${path} holds ${bytes.length} bytes; its layout reads ${needed}`;
  const out: Record<string, number> = {};
  let at = 0;
  for (const f of layout) {
    const raw = readInt(bytes, f.type, at);
    at += sizes[f.type];
    out[f.key] = f.scale === undefined ? raw : Number((raw * f.scale).toPrecision(12));
  }
  return out;
}

function readInt(bytes: Buffer, type: keyof typeof READERS, at: number): number {
  return READERS[type](bytes, at);
}

const READERS = {
  uint8: (b: Buffer, i: number) => b.readUInt8(i),
  int8: (b: Buffer, i: number) => b.readInt8(i),
  uint16be: (b: Buffer, i: number) => b.readUInt16BE(i),
  int16be: (b: Buffer, i: number) => b.readInt16BE(i),
  uint16le: (b: Buffer, i: number) => b.readUInt16LE(i),
  int16le: (b: Buffer, i: number) => b.readInt16LE(i),
  uint32be: (b: Buffer, i: number) => b.readUInt32BE(i),
  int32be: (b: Buffer, i: number) => b.readInt32BE(i),
  uint32le: (b: Buffer, i: number) => b.readUInt32LE(i),
  int32le: (b: Buffer, i: number) => b.readInt32LE(i),
} as const;
