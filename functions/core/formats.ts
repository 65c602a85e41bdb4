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
import { compilePath, compileSteps, generated, parsePath, pathList, type Accessor, type Step } from '../../datasets/formats/paths.ts';
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
 * object that carries the event time (null counts as absent, as for every
 * path of a format). The fast path's SQL applies the same test, so the two
 * agree on which lines are mapped.
 */
export function isNativeShape(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, EVENT_TIME_FIELD)) return false;
  const ts = (value as Record<string, unknown>)[EVENT_TIME_FIELD];
  return ts !== null && ts !== undefined;
}

/**
 * Maps one message value (a payload, or one element of an array payload)
 * to its readings: one, or one per item of a multi-reading message. A
 * format the route names is the only one tried; otherwise the payload's
 * shape says which it is.
 */
export function mapPayload(dataset: Dataset, envelope: MessageEnvelope, value: unknown): MappedReading[] {
  const { formats } = compiledDataset(dataset);
  if (envelope.format !== undefined && envelope.format !== NATIVE_FORMAT) {
    const named = formats.find((f) => f.id === envelope.format);
    if (!named) {
      const reason = `the delivery route names format ${JSON.stringify(envelope.format)}, which ${dataset.id} does not accept (it accepts ${acceptedFormats(dataset).join(', ')})`;
      return [{ ok: false, messageId: envelope.messageId, sensorId: envelope.sensorId, reason, payload: value }];
    }
    const items = itemsOf(named, value);
    if (items === undefined) return [mapItem(dataset, named, envelope, envelope.messageId, value)];
    return eachItem(envelope, value, items, (item, id) => mapItem(dataset, named, envelope, id, item));
  }
  if (envelope.format === NATIVE_FORMAT || isNativeShape(value)) return [native(dataset, envelope, envelope.messageId, value)];
  if (typeof value === 'object' && value !== null) {
    for (let f = 0; f < formats.length; f++) {
      const items = itemsOf(formats[f] as CompiledFormat, value);
      // Each item of a notification is recognised on its own: one may be normalized, the next keyValues.
      if (items !== undefined) return eachItem(envelope, value, items, (item, id) => recogniseItem(dataset, envelope, id, item));
    }
  }
  return [recogniseItem(dataset, envelope, envelope.messageId, value)];
}

function eachItem(envelope: MessageEnvelope, value: unknown, items: readonly unknown[], map: (item: unknown, id: string) => MappedReading): MappedReading[] {
  if (items.length === 0) return [{ ok: false, messageId: envelope.messageId, sensorId: envelope.sensorId, reason: 'the message holds no readings (its list of items is empty)', payload: value }];
  return items.map((item, i) => map(item, elementMessageId(envelope.messageId, i)));
}

/** One reading in whichever format recognises it; native where none does and it names a field of the dataset. */
function recogniseItem(dataset: Dataset, envelope: MessageEnvelope, messageId: string, item: unknown): MappedReading {
  if (isNativeShape(item)) return native(dataset, envelope, messageId, item);
  const { formats } = compiledDataset(dataset);
  for (let f = 0; f < formats.length; f++) {
    const format = formats[f] as CompiledFormat;
    if (format.recognise(item)) return mapItem(dataset, format, envelope, messageId, item);
  }
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
function itemsOf(format: CompiledFormat, value: unknown): readonly unknown[] | undefined {
  for (let i = 0; i < format.items.length; i++) {
    const items = format.items[i] as CompiledItems;
    const found = items.array(value);
    if (Array.isArray(found) && items.when(value)) return found;
  }
  return undefined;
}

/**
 * A name for people as a sensor id (see FormatDeclaration.sensorIdFrom):
 * accents dropped, each run of characters an id cannot hold one dash, no
 * dash at either end, at most 128 characters. A name with nothing an id can
 * hold stays as it is, and is refused as an id.
 */
export function idOfName(name: string): string {
  const id = name
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^A-Za-z0-9:_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 128)
    .replace(/-+$/, '');
  return id === '' ? name : id;
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

// ---- Declarations compiled: each path parsed once into a function, units resolved, per dataset. ----

/** Reads one path of a reading: from the item, or from its decoded bytes where the path is under the decoded form (see BytesSource). */
type Reader = (item: unknown, decoded: Record<string, number> | undefined) => unknown;

/** Several paths, the first present counting (null counts as absent). */
interface CompiledPaths {
  readonly paths: readonly string[];
  /** The index of the first path that leads to a value, its value in {@link lastFound.value}; -1 where none does. */
  readonly find: (item: unknown, decoded: Record<string, number> | undefined) => number;
  /** The path a reason names for a value found nowhere: the first of its fewest steps (`pm25`, not `pm25.value.@value`). */
  readonly plainest: string;
}

/** A dataset field and where a format takes it from. */
type CompiledField =
  | { readonly kind: 'none'; readonly name: string }
  | { readonly kind: 'constant'; readonly name: string; readonly value: unknown }
  | {
      readonly kind: 'path';
      readonly name: string;
      readonly required: boolean;
      readonly source: CompiledPaths;
      readonly values: Readonly<Record<string, unknown>> | undefined;
      /** What a reason lists as the table's keys. */
      readonly valuesText: string;
      /** Whether a number sent as text is read (numberText, on a numeric field). */
      readonly numberText: boolean;
      readonly unitPaths: CompiledPaths | undefined;
      readonly unit: string | undefined;
      readonly fieldUnit: string | undefined;
      /** The factor from the declared unit to the field's, or why there is none; undefined where no conversion is declared. */
      readonly unitFactor: number | string | undefined;
    };

interface CompiledItems {
  readonly array: Accessor;
  readonly when: (value: unknown) => boolean;
}

interface CompiledFormat {
  readonly id: string;
  readonly declaration: FormatDeclaration;
  readonly recognise: (value: unknown) => boolean;
  readonly items: readonly CompiledItems[];
  readonly sensorId: CompiledPaths | undefined;
  readonly time: CompiledPaths;
  readonly timeSource: TimeSource;
  readonly zone: string;
  readonly fields: readonly CompiledField[];
  readonly bytes:
    | { readonly unless: Accessor; readonly path: Accessor; readonly declared: NonNullable<FormatDeclaration['bytes']> }
    | undefined;
}

interface CompiledDataset {
  readonly formats: readonly CompiledFormat[];
  readonly personal: boolean;
}

const compiledDatasets = new WeakMap<Dataset, CompiledDataset>();

/** A dataset's formats, compiled on first use and kept as long as the dataset. */
function compiledDataset(dataset: Dataset): CompiledDataset {
  let known = compiledDatasets.get(dataset);
  if (!known) {
    known = { formats: (dataset.formats ?? []).map((f) => compileFormat(dataset, f)), personal: dataset.governance.personalData.length > 0 };
    compiledDatasets.set(dataset, known);
  }
  return known;
}

function compilePaths(paths: Paths, decodedPrefix: string | undefined): CompiledPaths {
  const list = pathList(paths);
  return { paths: list, find: finder(list, decodedPrefix), plainest: plainest(list) };
}

/**
 * The finder of a list of paths, generated code (see compileSteps): paths
 * in a row that start with the same key (`pm25.value.@value`, `pm25.value`,
 * `pm25`) read that key once.
 */
function finder(list: readonly string[], decodedPrefix: string | undefined): CompiledPaths['find'] {
  const functions: unknown[] = [];
  const ref = (f: unknown) => `f${functions.push(f) - 1}`;
  const code: string[] = [];
  let group: string | undefined;
  list.forEach((path, i) => {
    const steps = parsePath(path);
    const head = steps[0] as Step;
    const hit = `if (v !== undefined && v !== null) { box.value = v; return ${i}; }`;
    if (head.kind !== 0 || (decodedPrefix !== undefined && path.startsWith(decodedPrefix))) {
      if (group !== undefined) code.push('}');
      group = undefined;
      code.push(`v = ${ref(reader(path, decodedPrefix))}(item, decoded); ${hit}`);
      return;
    }
    if (group !== head.key) {
      if (group !== undefined) code.push('}');
      group = head.key;
      const key = JSON.stringify(head.key);
      // As a path's first step reads it: an own key of an object that is not an array.
      code.push(`next = typeof item === 'object' && item !== null && !Array.isArray(item) ? item[${key}] : undefined;
        if (next !== undefined && hasOwn(item, ${key})) {`);
    }
    code.push(steps.length === 1 ? `v = next; ${hit}` : `v = ${ref(compileSteps(steps.slice(1)))}(next); ${hit}`);
  });
  if (group !== undefined) code.push('}');
  const names = functions.map((_, i) => `f${i}`);
  return generated<CompiledPaths['find']>(
    ['hasOwn', 'box', ...names],
    `return function find(item, decoded) { let next; let v; ${code.join('\n')} box.value = undefined; return -1; };`,
    [Object.hasOwn, lastFound, ...functions],
  );
}

function reader(path: string, decodedPrefix: string | undefined): Reader {
  const fromItem = compilePath(path);
  if (decodedPrefix === undefined || !path.startsWith(decodedPrefix)) return (item) => fromItem(item);
  const rest = path.slice(decodedPrefix.length);
  let fromDecoded: Accessor;
  try {
    fromDecoded = compilePath(rest);
  } catch (error) {
    // Only a payload read from its bytes follows this path: the error is that payload's, as it was when uncompiled.
    fromDecoded = () => {
      throw error;
    };
  }
  return (item, decoded) => (decoded !== undefined ? fromDecoded(decoded) : fromItem(item));
}

function compileCondition(condition: Condition): (value: unknown) => boolean {
  const find = finder(pathList(condition.path), undefined);
  const is = condition.is ?? 'present';
  const allowed: readonly unknown[] | undefined = condition.equals === undefined ? undefined : Array.isArray(condition.equals) ? condition.equals : [condition.equals];
  return (value) => {
    const found = find(value, undefined) >= 0 ? lastFound.value : undefined;
    if (is === 'absent') return found === undefined;
    if (found === undefined) return false;
    if (is === 'array' && !Array.isArray(found)) return false;
    if (is === 'object' && (typeof found !== 'object' || Array.isArray(found))) return false;
    if ((is === 'string' || is === 'number') && typeof found !== is) return false;
    return allowed === undefined || allowed.includes(found);
  };
}

function allOf(tests: readonly ((value: unknown) => boolean)[]): (value: unknown) => boolean {
  if (tests.length === 1) return tests[0] as (value: unknown) => boolean;
  return (value) => {
    for (let i = 0; i < tests.length; i++) if (!(tests[i] as (value: unknown) => boolean)(value)) return false;
    return true;
  };
}

function compileFormat(dataset: Dataset, format: FormatDeclaration): CompiledFormat {
  const decodedPrefix = format.bytes !== undefined ? `${format.bytes.unless}.` : undefined;
  const fields = dataset.fields
    .filter((field) => field.name !== EVENT_TIME_FIELD)
    .map((field): CompiledField => {
      const source = format.fields[field.name];
      if (source === undefined) return { kind: 'none', name: field.name };
      if ('constant' in source) return { kind: 'constant', name: field.name, value: source.constant };
      const unit = source.unit;
      return {
        kind: 'path',
        name: field.name,
        required: field.required,
        source: compilePaths(source.path, decodedPrefix),
        values: source.values,
        valuesText: source.values !== undefined ? Object.keys(source.values).map((k) => JSON.stringify(k)).join(', ') : '',
        numberText: (source.numberText ?? false) && isNumeric(field),
        unitPaths: source.unitPath !== undefined ? compilePaths(source.unitPath, decodedPrefix) : undefined,
        unit,
        fieldUnit: field.unit,
        unitFactor: unit !== undefined && field.unit !== undefined && unit !== field.unit && typeof unit === 'string' ? conversionFactor(unit, field.unit) : undefined,
      };
    });
  return {
    id: format.id,
    declaration: format,
    recognise: allOf(format.recognise.map(compileCondition)),
    items: (format.items ?? []).map((items) => ({ array: compilePath(items.path), when: allOf((items.when ?? []).map(compileCondition)) })),
    sensorId: format.sensorId !== undefined ? compilePaths(format.sensorId, decodedPrefix) : undefined,
    time: compilePaths(format.time.path, decodedPrefix),
    timeSource: format.time,
    zone: format.time.zone ?? DEFAULT_SENSOR_ZONE,
    fields,
    bytes: format.bytes !== undefined ? { unless: compilePath(format.bytes.unless), path: compilePath(format.bytes.path), declared: format.bytes } : undefined,
  };
}

/** Set by a finder: the value of the path it found. */
const lastFound: { value: unknown } = { value: undefined };

/** The index of the first path that leads to a value (null counts as absent), its value in {@link lastFound}; -1 where none does. */
function firstOf(compiled: CompiledPaths, item: unknown, decoded: Record<string, number> | undefined): number {
  return compiled.find(item, decoded);
}

/** A value as a reason shows it: its type, and in a dataset without personal data the value itself. */
function shown(value: unknown, personal: boolean): string {
  return personal ? typeName(value) : `${typeName(value)} ${JSON.stringify(value)?.slice(0, 60) ?? String(value)}`;
}

function refusal(messageId: string, sensorId: string, format: string, reason: string, payload: unknown): MappedReading {
  return { ok: false, messageId, sensorId, format, reason, payload };
}

const DECIMAL = /^\s*-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

function mapItem(dataset: Dataset, format: CompiledFormat, envelope: MessageEnvelope, messageId: string, item: unknown): MappedReading {
  let problems: string[] | undefined;
  const { personal } = compiledDataset(dataset);
  let decoded: Record<string, number> | undefined;
  const bytes = format.bytes;
  if (bytes && bytes.unless(item) === undefined) {
    const declared = bytes.declared;
    if (!declared.layout) return refusal(messageId, envelope.sensorId, format.id, `${declared.unless} is missing and ${dataset.id} declares no byte layout for ${declared.path}: ${declared.advice}`, item);
    const value = decodeBytes(bytes.path(item), declared.path, declared.layout);
    if (typeof value === 'string') return refusal(messageId, envelope.sensorId, format.id, value, item);
    decoded = value;
  }
  const computed = format.declaration.compute?.(item, { datasetId: dataset.id });
  if (typeof computed === 'string') return refusal(messageId, envelope.sensorId, format.id, computed, item);

  let sensorId = envelope.sensorId;
  if (envelope.via !== undefined) {
    if (format.sensorId === undefined) return refusal(messageId, envelope.sensorId, format.id, `format ${format.id} names no sensor, so it cannot arrive through ${envelope.via}`, item);
    const at = firstOf(format.sensorId, item, decoded);
    const named = format.declaration.sensorIdFrom === 'name' && typeof lastFound.value === 'string' ? idOfName(lastFound.value) : lastFound.value;
    const sensor = sensorProblem(named, at >= 0 ? (format.sensorId.paths[at] as string) : format.sensorId.paths.join(' or '), envelope.via);
    if (typeof sensor === 'string') return refusal(messageId, envelope.sensorId, format.id, sensor, item);
    sensorId = sensor.id;
  }

  const ts = eventTimeOf(format, item, decoded, envelope.receivedAt, personal);
  if (typeof ts === 'string') problems = [ts];

  // The event time first, as a native reading has it.
  const reading: Record<string, unknown> = { [EVENT_TIME_FIELD]: null };
  const fields = format.fields;
  for (let f = 0; f < fields.length; f++) {
    const field = fields[f] as CompiledField;
    if (computed !== undefined && Object.hasOwn(computed, field.name)) {
      if (computed[field.name] !== undefined) reading[field.name] = computed[field.name];
      continue;
    }
    if (field.kind === 'none') continue;
    if (field.kind === 'constant') {
      reading[field.name] = field.value;
      continue;
    }
    const at = firstOf(field.source, item, decoded);
    if (at < 0) {
      if (field.required) (problems ??= []).push(`${field.source.plainest} is missing`);
      continue;
    }
    let v = lastFound.value;
    const path = field.source.paths[at] as string;
    if (field.values !== undefined) {
      const key = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
      if (key === undefined || !Object.hasOwn(field.values, key)) {
        (problems ??= []).push(`${path} must be one of ${field.valuesText}, got ${shown(v, personal)}`);
        continue;
      }
      v = field.values[key];
    }
    if (typeof v === 'string' && field.numberText) {
      if (!DECIMAL.test(v)) {
        (problems ??= []).push(`${path} must be a number, got ${shown(v, personal)}`);
        continue;
      }
      v = Number(v);
    }
    const unitAt = field.unitPaths !== undefined ? firstOf(field.unitPaths, item, decoded) : -1;
    const unit = unitAt >= 0 ? lastFound.value : field.unit;
    if (unit !== undefined && field.fieldUnit !== undefined && unit !== field.fieldUnit) {
      const unitPath = unitAt >= 0 ? (field.unitPaths?.paths[unitAt] as string) : undefined;
      if (typeof unit !== 'string') {
        (problems ??= []).push(`${unitPath ?? 'unit'} must be a unit code, got ${shown(unit, personal)}`);
        continue;
      }
      const factor = unitAt >= 0 ? conversionFactor(unit, field.fieldUnit) : (field.unitFactor as number | string);
      if (typeof factor === 'string') {
        (problems ??= []).push(`${unitPath ?? path}: ${factor}`);
        continue;
      }
      if (typeof v !== 'number') {
        (problems ??= []).push(`${path} must be a number, got ${shown(v, personal)}`);
        continue;
      }
      // Twelve significant digits: 0.0123 mg/m³ is 12.3 µg/m³, not 12.299999999999999.
      const converted = factor === 1 ? v : Number((v * factor).toPrecision(12));
      // A finite value whose conversion overflows would travel on as JSON null: refused here with what it was.
      if (!Number.isFinite(converted)) {
        (problems ??= []).push(`${path} is ${shown(v, personal)} ${unit}, beyond any number once converted to ${field.fieldUnit}`);
        continue;
      }
      v = converted;
    }
    reading[field.name] = v;
  }
  if (problems !== undefined) return { ok: false, messageId, sensorId, format: format.id, reason: problems.join('; '), payload: item };
  let micros = ts as number;
  const startOf = format.timeSource.startOf;
  if (startOf !== undefined) {
    const length = reading[startOf];
    if (typeof length !== 'number' || !Number.isFinite(length)) {
      return { ok: false, messageId, sensorId, format: format.id, reason: `${startOf} is missing, and the time (${format.time.plainest}) is the start of that interval`, payload: item };
    }
    micros += Math.round(length * 1_000_000);
  }
  reading[EVENT_TIME_FIELD] = isoOfMicros(micros);
  return {
    ok: true,
    messageId: format.declaration.identity === 'sensor-time' ? sensorTimeId(dataset, sensorId, micros) : messageId,
    sensorId,
    format: format.id,
    reading,
  };
}

/** The first of the fewest steps. */
function plainest(paths: readonly string[]): string {
  return paths.reduce((a, b) => (parsePath(b).length < parsePath(a).length ? b : a));
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
function eventTimeOf(format: CompiledFormat, item: unknown, decoded: Record<string, number> | undefined, receivedAt: string, personal: boolean): number | string {
  const time = format.timeSource;
  const at = firstOf(format.time, item, decoded);
  if (at < 0) {
    const arrival = isoToMicros(receivedAt);
    if ((time.orArrival ?? false) && arrival !== undefined) return arrival;
    return `${format.time.plainest} is missing`;
  }
  const value = lastFound.value;
  const path = format.time.paths[at] as string;
  let micros: number | undefined;
  if (typeof value === 'number') {
    if (time.epoch === undefined) return `${path} must be an ISO 8601 time, got ${shown(value, personal)}`;
    micros = Math.round(value * (time.epoch === 'seconds' ? 1_000_000 : 1000));
  } else if (typeof value === 'string') {
    // An interval (start/end) is observed when it ends.
    const slash = value.indexOf('/');
    micros = timeTextToMicros(slash >= 0 ? value.slice(slash + 1) : value, format.zone);
    if (micros === undefined) return `${path} must be an ISO 8601 time (e.g. 2026-11-29T10:00:00+01:00, or without offset in ${format.zone}), got ${shown(value, personal)}`;
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
  const fast = compactTimeTextToMicros(text, zone);
  if (fast !== null) return fast;
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

/** The value of the two decimal digits at `i`, or -1. */
function twoDigits(text: string, i: number): number {
  const a = text.charCodeAt(i) - 48;
  const b = text.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** Days from 1970-01-01 to a date of the proleptic Gregorian calendar (as Date.UTC counts them). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * {@link timeTextToMicros} of the shapes sensors send (no whitespace
 * anywhere), without a regular expression or a Date; null for any other text,
 * which the general reading then judges.
 */
function compactTimeTextToMicros(text: string, zone: string): number | undefined | null {
  const n = text.length;
  if (n < 16 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(13) !== 58) return null;
  const sep = text.charCodeAt(10);
  if (sep !== 84 && sep !== 32) return null;
  const century = twoDigits(text, 0);
  const yy = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  if (century < 0 || yy < 0 || month < 0 || day < 0 || hour < 0 || minute < 0) return null;
  let i = 16;
  let second = 0;
  let micro = 0;
  if (i < n && text.charCodeAt(i) === 58) {
    second = twoDigits(text, i + 1);
    if (second < 0) return null;
    i += 3;
    const mark = text.charCodeAt(i);
    if (i < n && (mark === 46 || mark === 44)) {
      i += 1;
      const from = i;
      let scale = 100_000;
      for (let c = text.charCodeAt(i) - 48; i < n && c >= 0 && c <= 9; c = text.charCodeAt(++i) - 48) {
        // Fractions beyond microseconds are truncated.
        micro += c * scale;
        scale = scale > 1 ? scale / 10 : 0;
      }
      if (i === from) return null;
    }
  }
  let offsetMicros: number | undefined;
  if (i === n) offsetMicros = undefined;
  else {
    const c = text.charCodeAt(i);
    if ((c === 90 || c === 122) && i + 1 === n) offsetMicros = 0;
    else if (c === 43 || c === 45) {
      const oh = twoDigits(text, i + 1);
      if (oh < 0) return null;
      let om = 0;
      if (i + 3 === n) om = 0;
      else {
        const at = text.charCodeAt(i + 3) === 58 ? i + 4 : i + 3;
        om = twoDigits(text, at);
        if (om < 0 || at + 2 !== n) return null;
      }
      if (om > 59) return undefined;
      offsetMicros = (c === 45 ? -1 : 1) * (oh * 60 + om) * MICROS_PER_MINUTE;
    } else return null;
  }
  const year = century * 100 + yy;
  // The general reading's quirks of the years 0 to 99 (its Date.UTC) are its own to keep.
  if (year < 100) return null;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  if (day > daysInMonth(year, month)) return undefined;
  const asUtc = (((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000 + micro;
  return offsetMicros === undefined ? asUtc - localOffsetMicros(zone, asUtc) : asUtc - offsetMicros;
}

/** {@link microsToIso}, without a Date, for the instants the platform stores (see inInstantRange). */
function isoOfMicros(micros: number): string {
  const millis = Math.floor(micros / 1000);
  const days = Math.floor(millis / 86_400_000);
  // Civil date from days (the inverse of daysFromCivil).
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 1000 || year > 9999) return microsToIso(micros);
  let rest = millis - days * 86_400_000;
  const ms = rest % 1000;
  rest = (rest - ms) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;
  const sub = micros - millis * 1000;
  return `${year}-${DIGITS2[month]}-${DIGITS2[day]}T${DIGITS2[hour]}:${DIGITS2[minute]}:${DIGITS2[second]}.${DIGITS3[ms]}${sub === 0 ? '' : DIGITS3[sub]}Z`;
}

const DIGITS2: readonly string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const DIGITS3: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

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
