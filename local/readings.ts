/**
 * Plausible readings for any dataset, derived from its fields (typical range,
 * bounds, enum members, the dataset's own generators), plus the kinds of
 * garbage real sensors send. Used by the simulator and by tests.
 */
import { EVENT_TIME_FIELD, type Dataset, type FieldSpec } from '../datasets/index.ts';

/** A deterministic random source (mulberry32), so a seeded fleet repeats itself. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const brussels = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Europe/Brussels',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZoneName: 'longOffset',
});

/** A time as Belgian local time with its offset, the way a sensor in Flanders reports it. */
export function brusselsIso(date: Date): string {
  const part = Object.fromEntries(brussels.formatToParts(date).map((p) => [p.type, p.value]));
  const gmtOffset = String(part.timeZoneName).replace('GMT', '');
  const offset = gmtOffset === '' ? '+00:00' : gmtOffset;
  const millis = String(date.getUTCMilliseconds()).padStart(3, '0');
  return `${part.year}-${part.month}-${part.day}T${part.hour}:${part.minute}:${part.second}.${millis}${offset}`;
}

function numberIn(field: FieldSpec, random: () => number, previous: number | undefined): number {
  const low = field.typical?.[0] ?? field.minimum ?? field.exclusiveMinimum ?? 0;
  const high = field.typical?.[1] ?? field.maximum ?? field.exclusiveMaximum ?? low + 100;
  // A random walk inside the typical range reads like a real series.
  const span = high - low;
  const start = previous ?? low + random() * span;
  let value = Math.min(high, Math.max(low, start + (random() - 0.5) * span * 0.1));
  if (field.kind === 'bigint') {
    value = Math.round(value);
    if (field.exclusiveMinimum !== undefined && value <= field.exclusiveMinimum) value = field.exclusiveMinimum + 1;
    return value;
  }
  return Math.round(value * 10) / 10;
}

/** Keeps a sensor's previous values so its readings form a series. */
export type SensorState = Map<string, number>;

/** One valid reading of a dataset at a given time. */
export function plausibleReading(dataset: Dataset, at: Date, random: () => number, state: SensorState = new Map()): Record<string, unknown> {
  const reading: Record<string, unknown> = {};
  for (const field of dataset.fields) {
    const generator = dataset.simulate?.[field.name];
    if (field.name === EVENT_TIME_FIELD) reading[field.name] = brusselsIso(at);
    else if (generator) reading[field.name] = generator(random);
    else if (field.enum) reading[field.name] = field.enum[Math.floor(random() * field.enum.length)];
    else if (field.kind === 'boolean') reading[field.name] = random() < 0.5;
    else if (field.kind === 'varchar') reading[field.name] = 'x'.repeat(Math.max(1, field.minLength ?? 1));
    else {
      const value = numberIn(field, random, state.get(field.name));
      state.set(field.name, value);
      reading[field.name] = value;
    }
  }
  return reading;
}

/** The kinds of bad input the simulator sends, each with the field its reason will name. */
export const MALFORMATIONS = [
  'decimal-comma',
  'missing-ts',
  'ts-without-offset',
  'null-value',
  'out-of-range',
  'not-json',
  'clock-reset',
] as const;
export type Malformation = (typeof MALFORMATIONS)[number];

/** A payload (text) that a dataset must quarantine, made from a valid reading. */
export function malformedPayload(dataset: Dataset, reading: Record<string, unknown>, kind: Malformation): string {
  const bad = { ...reading };
  const numeric = dataset.fields.find((f) => f.kind === 'double' || f.kind === 'bigint');
  const other = dataset.fields.find((f) => f.name !== EVENT_TIME_FIELD) as FieldSpec;
  const target = numeric ?? other;
  switch (kind) {
    case 'decimal-comma':
      bad[target.name] = `${Math.floor(Number.isFinite(Number(reading[target.name])) ? Number(reading[target.name]) : 12)},5`;
      break;
    case 'missing-ts':
      return JSON.stringify(Object.fromEntries(Object.entries(bad).filter(([k]) => k !== EVENT_TIME_FIELD)));
    case 'ts-without-offset':
      bad[EVENT_TIME_FIELD] = String(reading[EVENT_TIME_FIELD]).replace(/([+-]\d{2}:\d{2}|Z)$/, '');
      break;
    case 'null-value':
      bad[target.name] = null;
      break;
    case 'out-of-range':
      bad[target.name] =
        target.minimum !== undefined ? target.minimum - 1
        : target.exclusiveMinimum !== undefined ? target.exclusiveMinimum
        : target.maximum !== undefined ? target.maximum + 1
        : 'NaN';
      break;
    case 'not-json':
      return JSON.stringify(bad).slice(0, -7);
    case 'clock-reset':
      bad[EVENT_TIME_FIELD] = '1970-01-01T00:00:05+00:00';
      break;
  }
  return JSON.stringify(bad);
}
