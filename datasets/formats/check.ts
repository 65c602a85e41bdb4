/** Checks a dataset's format declarations against its fields, when the dataset is defined. */
import { NATIVE_FORMAT, type FormatDeclaration, type Paths } from './define.ts';
import { compilePath, pathList, PathSyntaxError } from './paths.ts';
import { conversionFactor } from './units.ts';

export type { FormatDeclaration } from './define.ts';

/** What a format check needs to know of a field. */
interface FieldFacts {
  readonly name: string;
  readonly kind: string;
  readonly required: boolean;
  readonly unit?: string;
}

const FORMAT_ID = /^[a-z][a-z0-9-]{0,62}$/;

/** Why a dataset's formats cannot be accepted, or undefined when they can. */
export function checkFormats(formats: readonly FormatDeclaration[], fields: readonly FieldFacts[]): string | undefined {
  const seen = new Set<string>();
  for (const format of formats) {
    const problem = checkFormat(format, fields);
    if (problem !== undefined) return `format "${String(format.id)}": ${problem}`;
    if (seen.has(format.id)) return `format "${format.id}" is declared twice`;
    seen.add(format.id);
  }
  return undefined;
}

function checkFormat(format: FormatDeclaration, fields: readonly FieldFacts[]): string | undefined {
  if (!FORMAT_ID.test(format.id)) return 'the id must be lower-case letters, digits and dashes';
  if (format.id === NATIVE_FORMAT) return `the id "${NATIVE_FORMAT}" is the platform's own format`;
  if (format.recognise.length === 0) return 'recognise must hold at least one condition, or every payload would be this format';
  if (format.sensorIdFrom !== undefined && format.sensorId === undefined) return 'sensorIdFrom says how to read the sensor id, but the format names no sensorId';
  const paths: Paths[] = [format.time.path, ...format.recognise.map((c) => c.path)];
  if (format.sensorId !== undefined) paths.push(format.sensorId);
  for (const items of format.items ?? []) paths.push(items.path, ...(items.when ?? []).map((c) => c.path));
  if (format.bytes) paths.push(format.bytes.path, format.bytes.unless);
  // Compiled here, once, as the dataset is defined: mapping a reading then parses no path.
  try {
    for (const p of paths) for (const path of pathList(p)) compilePath(path);
    for (const source of Object.values(format.fields)) {
      if ('path' in source) for (const path of [...pathList(source.path), ...pathList(source.unitPath ?? [])]) compilePath(path);
    }
  } catch (error) {
    if (error instanceof PathSyntaxError) return error.message;
    throw error;
  }
  if (format.time.zone !== undefined && !validZone(format.time.zone)) return `time.zone "${format.time.zone}" is not an IANA time zone`;
  const byName = new Map(fields.map((f) => [f.name, f]));
  const startOf = format.time.startOf;
  if (startOf !== undefined && (byName.get(startOf)?.unit !== 's' || (!(startOf in format.fields) && format.compute === undefined))) {
    return `time.startOf "${startOf}" must be a field in seconds that the format maps`;
  }
  for (const [name, source] of Object.entries(format.fields)) {
    const field = byName.get(name);
    if (!field || name === 'ts') return `fields.${name} is not a field of the reading (the time comes from time.path)`;
    if ('path' in source && source.unit !== undefined) {
      if (field.unit === undefined) return `fields.${name} declares unit "${source.unit}", but the field has no unit to convert to`;
      const factor = conversionFactor(source.unit, field.unit);
      if (typeof factor === 'string') return `fields.${name}: ${factor}`;
    }
  }
  if (format.compute === undefined) {
    const unmapped = fields.filter((f) => f.required && f.name !== 'ts' && !(f.name in format.fields));
    if (unmapped.length > 0) return `required field${unmapped.length > 1 ? 's' : ''} ${unmapped.map((f) => f.name).join(', ')} ha${unmapped.length > 1 ? 've' : 's'} no source`;
  }
  return undefined;
}

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
