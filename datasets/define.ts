import { z } from 'zod';
import { checkFormats, type FormatDeclaration } from './formats/check.ts';

/** Who may read a dataset: everyone, named partners, or the city only. */
export type Classification = 'open' | 'shared' | 'closed';
export const CLASSIFICATIONS: readonly Classification[] = ['open', 'shared', 'closed'];

/** Column types a reading field can have; every engine maps from these. */
export type FieldKind = 'timestamp' | 'double' | 'bigint' | 'varchar' | 'boolean';

/** Aggregates the hourly view computes for a numeric field. */
export type Aggregate = 'avg' | 'min' | 'max' | 'sum';

/** How a value stands against its field's thresholds, from best to worst; the dashboard colours by it. */
export type Level = 'good' | 'fair' | 'moderate' | 'poor' | 'very_poor';
export const LEVELS: readonly Level[] = ['good', 'fair', 'moderate', 'poor', 'very_poor'];

/** One band of a field's scale: values below `below` (the last band has none: everything above). */
export interface ThresholdBand {
  /** Exclusive upper bound; absent on the last band. @default - no upper bound */
  readonly below?: number;
  readonly level: Level;
  /** What the band means, in English and Dutch (e.g. "within the WHO 24-hour guideline"). */
  readonly label: { readonly en: string; readonly nl: string };
}

/** A field's scale: where its values come from and the bands, in ascending order of value. */
export interface Thresholds {
  /** The guideline or rule the bands follow, e.g. "WHO Global Air Quality Guidelines 2021, 24-hour". */
  readonly basis: string;
  readonly bands: readonly ThresholdBand[];
}

/** Extra facts a field carries in its zod `.meta({...})`. */
export interface FieldMeta {
  /** Unit of measure, shown in the register, the JSON Schema and the catalog. */
  readonly unit?: string;
  readonly description?: string;
  /** Range the simulator draws plausible values from. */
  readonly typical?: readonly [number, number];
  /** Aggregates in the hourly view. @default - avg, min and max for numbers; none otherwise */
  readonly aggregate?: readonly Aggregate[];
  /** Bands the dashboard colours a value by. @default - none: the value is shown uncoloured */
  readonly thresholds?: Thresholds;
}

/** The governance record every dataset carries. */
export interface Governance {
  /** The city department (dienst) accountable for the dataset. */
  readonly owner: string;
  /** The person or mailbox who answers questions about it. */
  readonly steward: string;
  readonly classification: Classification;
  /** Reading fields holding personal data; pseudonymised before curated. */
  readonly personalData: readonly string[];
  /** Why the city processes the data: the purpose in the record of processing activities. */
  readonly purpose: string;
  /** GDPR article or regulation the processing rests on. */
  readonly legalBasis: string;
  readonly licence: string;
  /** Data model the reading follows (FIWARE Smart Data Model, OSLO). */
  readonly standard: string;
  /** How often a sensor reports, as an ISO 8601 duration (e.g. PT1M). */
  readonly updateFrequency: string;
}

/** Days an object is kept in each zone before lifecycle expiry deletes it. */
export interface Retention {
  readonly rawDays: number;
  readonly curatedDays: number;
  readonly quarantineDays: number;
}

/**
 * The EU's data themes (publications.europa.eu/resource/authority/data-theme),
 * which DCAT-AP and DCAT-AP Vlaanderen name a dataset's themes by.
 */
export const DATA_THEMES = ['AGRI', 'ECON', 'EDUC', 'ENER', 'ENVI', 'GOVE', 'HEAL', 'INTR', 'JUST', 'REGI', 'SOCI', 'TECH', 'TRAN'] as const;
export type DataTheme = (typeof DATA_THEMES)[number];

/** What a dataset file declares. */
export interface DatasetInput<S extends z.ZodObject = z.ZodObject> {
  /** snake_case; also the table name, the topic level and the zone prefix. */
  readonly id: string;
  /** English title. */
  readonly title: string;
  /** English description. */
  readonly description: string;
  /** The Dutch title and description: the city's own language, first in the catalog. */
  readonly nl: { readonly title: string; readonly description: string };
  readonly keywords: readonly string[];
  /** The EU data themes it belongs to; the open-data catalog lists them. @default - none */
  readonly themes?: readonly DataTheme[];
  /** One reading. `ts` is the event time (ISO 8601 with offset, see {@link eventTime}). */
  readonly reading: S;
  readonly governance: Governance;
  readonly retention: Retention;
  /**
   * Value generators for string fields the simulator cannot infer from the
   * schema (a number plate, say). Keyed by field name.
   * @default - none
   */
  readonly simulate?: Readonly<Record<string, (random: () => number) => string>>;
  /**
   * Input formats the dataset accepts besides its own flat JSON (FIWARE
   * entities, LoRaWAN uplinks, ...), each one declaration (datasets/formats/).
   * @default - only the platform's own format
   */
  readonly formats?: readonly FormatDeclaration[];
}

/** One field of a reading, derived from the zod schema. */
export interface FieldSpec {
  readonly name: string;
  readonly kind: FieldKind;
  readonly required: boolean;
  readonly personal: boolean;
  readonly unit?: string;
  readonly description?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly enum?: readonly string[];
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly typical?: readonly [number, number];
  readonly aggregate: readonly Aggregate[];
  readonly thresholds?: Thresholds;
}

/** A dataset as the rest of the platform sees it: the input plus derived facts. */
export interface Dataset<S extends z.ZodObject = z.ZodObject> extends DatasetInput<S> {
  /** Reading fields in declaration order, `ts` first. */
  readonly fields: readonly FieldSpec[];
}

/** The name of the event-time field every reading carries. */
export const EVENT_TIME_FIELD = 'ts';

/**
 * Envelope columns the platform adds in front of a dataset's own fields, and
 * the partition column after them. Dataset fields may not reuse these names.
 */
export const ENVELOPE_COLUMNS = ['sensor_id', 'received_at', 'message_id', 'format'] as const;
export const PARTITION_COLUMN = 'dt';

const SNAKE_CASE = /^[a-z][a-z0-9_]*$/;

/** A dataset definition the platform cannot accept; the message names the dataset. */
export class DatasetDefinitionError extends Error {
  constructor(readonly datasetId: string, problem: string) {
    super(`dataset "${datasetId}": ${problem}`);
    this.name = 'DatasetDefinitionError';
  }
}

/** The event time of a reading: ISO 8601 with a UTC offset or Z. */
export function eventTime() {
  return z.iso.datetime({ offset: true }).meta({
    description: 'Event time: ISO 8601 with offset, e.g. 2026-11-29T10:00:00+01:00',
  });
}

interface JsonSchemaProperty {
  type?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  unit?: unknown;
  description?: unknown;
  typical?: unknown;
  aggregate?: unknown;
  thresholds?: unknown;
  anyOf?: unknown;
}

function kindOf(id: string, name: string, prop: JsonSchemaProperty): FieldKind {
  if (name === EVENT_TIME_FIELD) {
    if (prop.type !== 'string' || prop.format !== 'date-time') {
      throw new DatasetDefinitionError(id, `field "${EVENT_TIME_FIELD}" must be eventTime() (ISO 8601 with offset)`);
    }
    return 'timestamp';
  }
  switch (prop.type) {
    case 'number':
      return 'double';
    case 'integer':
      return 'bigint';
    case 'string':
      if (prop.format !== undefined) {
        throw new DatasetDefinitionError(id, `field "${name}": string format "${prop.format}" is not supported; use a pattern`);
      }
      return 'varchar';
    case 'boolean':
      return 'boolean';
    default:
      throw new DatasetDefinitionError(
        id,
        `field "${name}" has an unsupported type (${prop.type ?? 'union or nested'}): use number, int, string, enum or boolean`,
      );
  }
}

const numberOrUndefined = (v: unknown) => (typeof v === 'number' ? v : undefined);
const AGGREGATES: readonly Aggregate[] = ['avg', 'min', 'max', 'sum'];

function deriveFields(input: DatasetInput): FieldSpec[] {
  const { id, reading, governance } = input;
  const schema = z.toJSONSchema(reading, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonSchemaProperty>;
    required?: string[];
  };
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const personal = new Set(governance.personalData);
  return Object.entries(properties).map(([name, prop]) => {
    if (!SNAKE_CASE.test(name)) {
      throw new DatasetDefinitionError(id, `field "${name}" must be snake_case (Glue and Athena lower-case every identifier)`);
    }
    if ((ENVELOPE_COLUMNS as readonly string[]).includes(name) || name === PARTITION_COLUMN) {
      throw new DatasetDefinitionError(id, `field "${name}" is reserved for the platform's envelope or partition`);
    }
    const kind = kindOf(id, name, prop);
    const numeric = kind === 'double' || kind === 'bigint';
    const aggregate = Array.isArray(prop.aggregate)
      ? prop.aggregate.filter((a): a is Aggregate => AGGREGATES.includes(a as Aggregate))
      : numeric ? (['avg', 'min', 'max'] as const) : [];
    if (aggregate.length > 0 && !numeric) {
      throw new DatasetDefinitionError(id, `field "${name}" is not numeric, so it cannot be aggregated`);
    }
    const typical = Array.isArray(prop.typical) && prop.typical.length === 2 ? (prop.typical as [number, number]) : undefined;
    const enumValues = prop.enum?.map(String);
    return {
      name,
      kind,
      required: required.has(name),
      personal: personal.has(name),
      unit: typeof prop.unit === 'string' ? prop.unit : undefined,
      description: typeof prop.description === 'string' ? prop.description : undefined,
      minimum: numberOrUndefined(prop.minimum),
      // zod writes the safe-integer bounds into every int; they add nothing for a reader.
      maximum: prop.maximum === Number.MAX_SAFE_INTEGER ? undefined : numberOrUndefined(prop.maximum),
      exclusiveMinimum: numberOrUndefined(prop.exclusiveMinimum),
      exclusiveMaximum: numberOrUndefined(prop.exclusiveMaximum),
      enum: enumValues,
      pattern: prop.pattern,
      minLength: numberOrUndefined(prop.minLength),
      maxLength: numberOrUndefined(prop.maxLength),
      typical,
      aggregate,
      thresholds: prop.thresholds === undefined ? undefined : checkThresholds(id, name, prop.thresholds, numeric),
    };
  });
}

/** A field's thresholds as declared, checked: bands ascending, only the last one open. */
function checkThresholds(id: string, field: string, value: unknown, numeric: boolean): Thresholds {
  const fail = (problem: string) => new DatasetDefinitionError(id, `field "${field}" thresholds: ${problem}`);
  if (!numeric) throw fail('only a numeric field can have thresholds');
  const t = value as Partial<Thresholds> | null;
  if (typeof t !== 'object' || t === null || typeof t.basis !== 'string' || t.basis.trim() === '') throw fail('give a basis (the guideline the bands follow)');
  const bands = Array.isArray(t.bands) ? t.bands : [];
  if (bands.length < 2) throw fail('give at least two bands');
  let previous = -Infinity;
  bands.forEach((band: Partial<ThresholdBand>, i) => {
    const last = i === bands.length - 1;
    if (!LEVELS.includes(band.level as Level)) throw fail(`band ${i + 1} has level "${String(band.level)}": one of ${LEVELS.join(', ')}`);
    if (typeof band.label?.en !== 'string' || typeof band.label?.nl !== 'string') throw fail(`band ${i + 1} needs a label in en and nl`);
    if (last !== (band.below === undefined)) throw fail(last ? 'the last band has no upper bound (below)' : `band ${i + 1} needs an upper bound (below)`);
    if (!last) {
      if (typeof band.below !== 'number' || !(band.below > previous)) throw fail('the bands must ascend');
      previous = band.below;
    }
  });
  return { basis: t.basis, bands: bands as ThresholdBand[] };
}

/** The band a value falls in, or undefined for a field without thresholds. */
export function bandOf(thresholds: Thresholds | undefined, value: number): ThresholdBand | undefined {
  return thresholds?.bands.find((b) => b.below === undefined || value < b.below);
}

/** The field the map shows for a dataset: the first with thresholds, else the first numeric one. */
export function headlineField(dataset: Dataset): FieldSpec | undefined {
  const numeric = dataset.fields.filter((f) => f.kind === 'double' || f.kind === 'bigint');
  return numeric.find((f) => f.thresholds !== undefined) ?? numeric[0];
}

const ISO_DURATION = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** Seconds in an ISO 8601 duration of days, hours, minutes and seconds (P1D, PT10M); undefined otherwise. */
export function durationSeconds(iso: string): number | undefined {
  const m = ISO_DURATION.exec(iso);
  if (!m || iso === 'P' || iso.endsWith('T')) return undefined;
  const [, d, h, min, s] = m.map((v) => Number(v ?? 0));
  const total = (d ?? 0) * 86_400 + (h ?? 0) * 3600 + (min ?? 0) * 60 + (s ?? 0);
  return total > 0 ? total : undefined;
}

/** Checks a governance record and retention; throws {@link DatasetDefinitionError} naming the dataset. */
export function checkGovernance(input: DatasetInput, fields: readonly FieldSpec[]): void {
  const { id, governance: g, retention } = input;
  if (!g) throw new DatasetDefinitionError(id, 'governance record is missing');
  const blank = (v: unknown) => typeof v !== 'string' || v.trim() === '';
  if (blank(g.owner)) throw new DatasetDefinitionError(id, 'governance.owner is missing: name the accountable department');
  if (blank(g.steward)) throw new DatasetDefinitionError(id, 'governance.steward is missing: name who answers questions about it');
  if (!CLASSIFICATIONS.includes(g.classification)) {
    throw new DatasetDefinitionError(id, `governance.classification must be one of ${CLASSIFICATIONS.join(', ')}, got "${String(g.classification)}"`);
  }
  if (blank(input.nl?.title) || blank(input.nl?.description)) throw new DatasetDefinitionError(id, 'nl.title and nl.description are missing: give the Dutch title and description');
  for (const key of ['purpose', 'legalBasis', 'licence', 'standard', 'updateFrequency'] as const) {
    if (blank(g[key])) throw new DatasetDefinitionError(id, `governance.${key} is missing`);
  }
  if (durationSeconds(g.updateFrequency) === undefined) {
    throw new DatasetDefinitionError(id, `governance.updateFrequency must be an ISO 8601 duration such as PT10M or P1D, got "${g.updateFrequency}"`);
  }
  for (const field of g.personalData) {
    const spec = fields.find((f) => f.name === field);
    if (!spec) throw new DatasetDefinitionError(id, `personal-data field "${field}" is not a field of the reading`);
    if (spec.kind !== 'varchar') throw new DatasetDefinitionError(id, `personal-data field "${field}" must be a string to be pseudonymised`);
  }
  if (g.personalData.length > 0 && g.classification === 'open') {
    throw new DatasetDefinitionError(id, `holds personal data (${g.personalData.join(', ')}) and so cannot be classified open`);
  }
  for (const zone of ['rawDays', 'curatedDays', 'quarantineDays'] as const) {
    const days = retention?.[zone];
    if (typeof days !== 'number' || !Number.isInteger(days) || days <= 0) {
      throw new DatasetDefinitionError(id, `retention.${zone} must be a positive whole number of days, got ${String(days)}`);
    }
  }
}

/** Declares a dataset; checks it and derives its fields. Throws {@link DatasetDefinitionError}. */
export function defineDataset<S extends z.ZodObject>(input: DatasetInput<S>): Dataset<S> {
  const id = typeof input.id === 'string' ? input.id : String(input.id);
  if (!SNAKE_CASE.test(id)) {
    throw new DatasetDefinitionError(id, 'id must be snake_case (it is the table name and a topic level)');
  }
  if (!input.governance) throw new DatasetDefinitionError(id, 'governance record is missing');
  if (!input.retention) throw new DatasetDefinitionError(id, 'retention is missing: give days per zone (raw, curated, quarantine)');
  const fields = deriveFields(input);
  const tsIndex = fields.findIndex((f) => f.name === EVENT_TIME_FIELD);
  if (tsIndex < 0 || !fields[tsIndex]?.required) {
    throw new DatasetDefinitionError(id, `reading must have a required "${EVENT_TIME_FIELD}" field: eventTime()`);
  }
  checkGovernance(input, fields);
  for (const theme of input.themes ?? []) {
    if (!DATA_THEMES.includes(theme)) throw new DatasetDefinitionError(id, `theme "${String(theme)}" is not an EU data theme: one of ${DATA_THEMES.join(', ')}`);
  }
  for (const name of Object.keys(input.simulate ?? {})) {
    if (!fields.some((f) => f.name === name)) throw new DatasetDefinitionError(id, `simulate.${name} is not a field of the reading`);
  }
  const formatProblem = checkFormats(input.formats ?? [], fields);
  if (formatProblem !== undefined) throw new DatasetDefinitionError(id, formatProblem);
  const ordered = [fields[tsIndex] as FieldSpec, ...fields.filter((_, i) => i !== tsIndex)];
  return Object.freeze({ ...input, id, fields: ordered });
}
