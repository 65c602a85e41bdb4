/**
 * A dataset's simple format declarations compiled to the fast path's SQL,
 * for raw objects whose payloads arrive in another format (an integration's
 * webhook, a gateway, a city platform's notifications).
 *
 * DuckDB's JSON reader reads each embedded payload once, into one struct
 * of every place any format of the dataset reads (see {@link vendorReader}).
 * That reader is strict where the SQL must be sure of what JavaScript would
 * see: a key read twice in one object, or an object read where the payload
 * holds something else, fails the read, and the object takes the pre-pass
 * (raw-lines.ts), which maps it exactly as the format engine does. Places
 * whose value is read are kept as JSON text, re-written by the reader
 * (strings unescaped, numbers minified); below such a place, keys are read
 * with json_extract and their objects' keys checked distinct (a line whose
 * keys are not takes the pre-pass too). Keys no format
 * reads are not read at all: an embedded payload nests no deeper than a
 * reading may (rawLine sends a deeper one as bytes), so none hides a depth
 * the reference judge would refuse.
 *
 * The SQL maps a payload only where it is sure it does what the format
 * engine (formats.ts) does; the reference judge, which maps and judges with
 * the engine, decides every other reading, and the pre-pass takes messages
 * of many readings and formats the SQL does not compile (tables of values,
 * numbers as text, computed fields, bytes to decode, identities by sensor
 * and time, times that open an interval). So the SQL decides speed, never
 * outcome; a property test holds the two to the same answers.
 */
import { EVENT_TIME_FIELD, NATIVE_FORMAT, type Condition, type Dataset, type FieldSource, type FormatDeclaration, type Paths } from '../../datasets/index.ts';
import { parsePath, pathList } from '../../datasets/formats/paths.ts';
import { conversionFactor, UNITS } from '../../datasets/formats/units.ts';
import { quoteIdent, quoteString } from './columns.ts';

/** What a line's `v_choice` holds besides the index of the format the SQL maps it with (0-based, as declared). */
export const VENDOR_CHOICE = {
  /** The SQL does not map it: the reference judge maps and judges it. */
  judge: -1,
  /** Its readings need the pre-pass (many in one message, a format the SQL does not compile). */
  prePass: -2,
} as const;

/** A dataset's formats as the SQL reads them. */
export interface VendorReader {
  /** The type read_json reads an embedded payload as. */
  readonly payloadType: string;
  /**
   * Keys the reader does not read (DuckDB names a struct's members without
   * regard to case, so of `pm10` and `PM10` it reads the first declared):
   * the SQL takes them as absent, so an object that may hold one (see
   * mayHoldKey in raw-lines.ts) takes the pre-pass.
   */
  readonly hiddenKeys: readonly string[];
  /**
   * Over rows with the raw columns (the payload read as {@link payloadType}):
   * every raw column, plus `v_choice` (see {@link VENDOR_CHOICE}), `v_format`,
   * `v_sensor` (the sensor a payload names, for a route through an
   * integration) and `v_reading` (the mapped reading as `readingType`, NULL
   * unless a format maps it).
   */
  readonly select: (source: string, readingType: string) => string;
}

/** A place in the payload: read as a struct of the places below it, or as JSON text. */
interface Place {
  readonly key: string;
  readonly children: Map<string, Place>;
  /** Whether its value is read (a field, a time, a condition on its type or value): then it is JSON text. */
  valued: boolean;
}

/** A path as key steps, or undefined where it has a selector or a key a JSON pointer reads as an array index. */
function keySteps(path: string): readonly string[] | undefined {
  const steps = parsePath(path);
  return steps.every((s) => s.kind === 0 && !/^(?:\d+|-)$/.test(s.key)) ? steps.map((s) => s.key) : undefined;
}

/** The key steps of a path up to its first selector (where the SQL stops and reads JSON). */
function keyPrefix(path: string): readonly string[] {
  const steps = parsePath(path);
  const keys: string[] = [];
  for (const s of steps) {
    if (s.kind !== 0 || /^(?:\d+|-)$/.test(s.key)) break;
    keys.push(s.key);
  }
  return keys;
}

/** Whether the SQL maps a format: paths of keys only, no table of values, no numbers as text, nothing computed, sensor ids as they are. */
export function simpleFormat(format: FormatDeclaration): boolean {
  const simpleSource = (source: FieldSource): boolean =>
    'constant' in source ||
    (source.values === undefined && !(source.numberText ?? false) && [...pathList(source.path), ...pathList(source.unitPath ?? [])].every((p) => keySteps(p) !== undefined));
  return (
    (format.identity ?? 'message') === 'message' &&
    (format.sensorIdFrom ?? 'exact') === 'exact' &&
    format.compute === undefined &&
    format.time.startOf === undefined &&
    format.time.epoch === undefined &&
    pathList(format.time.path).every((p) => keySteps(p) !== undefined) &&
    pathList(format.sensorId ?? []).every((p) => keySteps(p) !== undefined) &&
    (format.bytes === undefined || keySteps(format.bytes.unless) !== undefined) &&
    Object.values(format.fields).every(simpleSource)
  );
}

/** A JSON pointer of key steps. */
function pointer(steps: readonly string[]): string {
  return steps.map((k) => `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * JSON text arrives re-written by the reader, so its first character is its
 * type: `"` a string, `{` an object, `[` an array, a sign or digit a number.
 */
const head = (json: string) => `left(CAST(${json} AS VARCHAR), 1)`;
/** A value present that no field's parse accepts (see fieldValue). */
const UNREADABLE = `'[]'::JSON`;
// Not an IN list: DuckDB plans one of more than a few values as a join.
const isNumber = (json: string) => `(${head(json)} BETWEEN '0' AND '9' OR ${head(json)} = '-')`;

/** Compiles a dataset's formats; undefined where it declares none or the SQL maps none of them. */
export function vendorReader(dataset: Dataset): VendorReader | undefined {
  const formats = dataset.formats ?? [];
  if (!formats.some(simpleFormat)) return undefined;

  const root: Place = { key: '', children: new Map(), valued: false };
  /** Records that a path is read: as a value (its place JSON) or only for whether it is there. */
  const use = (keys: readonly string[], valued: boolean): void => {
    let at = root;
    for (const key of keys) {
      let next = at.children.get(key);
      if (!next) {
        next = { key, children: new Map(), valued: false };
        at.children.set(key, next);
      }
      at = next;
    }
    if (valued) at.valued = true;
  };
  /**
   * A place whose value is read, or with no places below it, is JSON text;
   * any other a struct the reader checks (see byCase for the exception).
   */
  const isJson = (place: Place) => place.valued || place.children.size === 0 || byCase.has(place);
  // A path with a selector is read as JSON text up to its selector (the SQL maps no format that has one).
  const usePaths = (paths: Paths, valued: boolean) =>
    pathList(paths).forEach((p) => {
      const keys = keySteps(p) ?? keyPrefix(p);
      if (keys.length > 0) use(keys, keySteps(p) === undefined || valued);
    });
  const useCondition = (c: Condition) => usePaths(c.path, !['present', 'absent', 'object'].includes(c.is ?? 'present') || c.equals !== undefined);
  // Whether a payload is native: the event time's key at the top.
  use([EVENT_TIME_FIELD], false);
  for (const format of formats) {
    format.recognise.forEach(useCondition);
    for (const items of format.items ?? []) {
      usePaths(items.path, true);
      (items.when ?? []).forEach(useCondition);
    }
    // Every format's places, compiled or not: a key one format reads as a value may hold any JSON, which the reader must not refuse.
    if (format.sensorId !== undefined) usePaths(format.sensorId, true);
    usePaths(format.time.path, true);
    for (const source of Object.values(format.fields)) {
      if ('constant' in source) continue;
      usePaths(source.path, true);
      if (source.unitPath !== undefined) usePaths(source.unitPath, true);
    }
    if (format.bytes !== undefined) usePaths(format.bytes.unless, false);
  }
  // Of keys differing only by case (pm10, PM10) the reader reads the first declared, and the SQL
  // cannot tell whether the others are there (see hiddenKeys).
  const visible = (place: Place): Place[] => {
    const seen = new Set<string>();
    return [...place.children.values()].filter((c) => !seen.has(c.key.toLowerCase()) && seen.add(c.key.toLowerCase()));
  };
  /**
   * Places below the top read as JSON text because of keys differing only by
   * case. A key the struct cannot read is found by scanning the object's
   * bytes (see hiddenKeys), which tells nothing where the same key is read
   * elsewhere (noise's `LAeq` is an NGSI attribute at the top and a
   * formatter's key in a decoded payload): such a place is JSON text, its
   * keys read by json_extract, which tells them apart.
   */
  const byCase = new Set<Place>();
  for (let changed = true; changed; ) {
    changed = false;
    const readable = new Set<string>();
    const hiddenBelow: [Place, string[]][] = [];
    const walk = (place: Place) => {
      const shown = isJson(place) ? [...place.children.values()] : visible(place);
      shown.forEach((c) => readable.add(c.key));
      const hiddenHere = [...place.children.values()].filter((c) => !shown.includes(c)).map((c) => c.key);
      if (place !== root && hiddenHere.length > 0) hiddenBelow.push([place, hiddenHere]);
      place.children.forEach(walk);
    };
    walk(root);
    for (const [place, keys] of hiddenBelow) {
      if (keys.some((k) => readable.has(k))) {
        byCase.add(place);
        changed = true;
      }
    }
  }
  const typeOf = (place: Place): string => (isJson(place) ? 'JSON' : `STRUCT(${visible(place).map((c) => `${quoteIdent(c.key)} ${typeOf(c)}`).join(', ')})`);
  const payloadType = typeOf(root);

  // The SQL of each place: a struct member, or (below JSON text) one element of its json_extract list.
  const extracts: { json: string; pointers: string[]; objects: Set<string> }[] = [];
  /** A place's SQL; undefined where the reader does not read it (see visible). */
  const placeSql = (keys: readonly string[]): { sql: string; struct: boolean } | undefined => {
    let at = root;
    let sql = 'payload';
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const next = at.children.get(key) as Place;
      if (!visible(at).includes(next)) return undefined;
      sql = `${sql}.${quoteIdent(key)}`;
      if (isJson(next) && i < keys.length - 1) {
        // Below JSON text: one json_extract per text, of every pointer read below it.
        let extract = extracts.find((e) => e.json === sql);
        if (!extract) {
          extract = { json: sql, pointers: [], objects: new Set() };
          extracts.push(extract);
        }
        const rest = keys.slice(i + 1);
        for (let n = 0; n < rest.length; n++) extract.objects.add(pointer(rest.slice(0, n)));
        const p = pointer(rest);
        let k = extract.pointers.indexOf(p);
        if (k < 0) k = extract.pointers.push(p) - 1;
        // json_extract gives JSON null as the text null; the format engine counts null as absent.
        return { sql: `nullif(CAST(v_x${extracts.indexOf(extract)}[${k + 1}] AS VARCHAR), 'null')::JSON`, struct: false };
      }
      at = next;
    }
    return { sql, struct: !isJson(at) };
  };
  /** What the SQL knows of a list of paths (see first). */
  interface Found {
    /** The JSON text of the first present; undefined where a path reaches a struct. */
    readonly value: string | undefined;
    /** Whether one is present. */
    readonly there: string;
    /** Whether every path reaches a struct. */
    readonly structs: boolean;
  }
  /** The first of the paths present (null counts as absent; a key the reader does not read is taken as absent, see hiddenKeys); undefined where a path has a selector. */
  const first = (paths: Paths): Found | undefined => {
    const places: { sql: string; struct: boolean }[] = [];
    for (const p of pathList(paths)) {
      const keys = keySteps(p);
      if (keys === undefined) return undefined;
      const place = placeSql(keys);
      if (place === undefined) {
        hidden.add(keys.find((_, i) => placeSql(keys.slice(0, i + 1)) === undefined) as string);
        continue;
      }
      places.push(place);
    }
    if (places.length === 0) return { value: 'NULL', there: 'false', structs: false };
    const there = places.length === 1 ? `${(places[0] as { sql: string }).sql} IS NOT NULL` : `(${places.map((p) => `${p.sql} IS NOT NULL`).join(' OR ')})`;
    const structs = places.every((p) => p.struct);
    if (places.some((p) => p.struct)) return { value: undefined, there, structs };
    const value = places.length === 1 ? (places[0] as { sql: string }).sql : column(`coalesce(${places.map((p) => p.sql).join(', ')})`);
    return { value, there: places.length === 1 ? there : `${value} IS NOT NULL`, structs };
  };
  const hidden = new Set<string>();
  /** Values read more than once are computed once, as columns of their own. */
  const columns = new Map<string, string>();
  const column = (sql: string): string => {
    let name = columns.get(sql);
    if (name === undefined) {
      name = `v_f${columns.size}`;
      columns.set(sql, name);
    }
    return name;
  };
  /** A condition: true, false, or NULL where the SQL cannot tell. */
  const condition = (c: Condition): string => {
    const found = first(c.path);
    if (found === undefined) return 'NULL';
    const is = c.is ?? 'present';
    if (is === 'absent') return `NOT ${found.there}`;
    if (found.value === undefined) {
      // A struct is an object (the reader fails on anything else there), and no string, number or array.
      if (c.equals !== undefined) return found.structs ? 'false' : 'NULL';
      if (is === 'present') return found.there;
      if (is === 'object') return found.structs ? found.there : 'NULL';
      return found.structs ? 'false' : 'NULL';
    }
    const value = found.value;
    const tests = [found.there];
    if (is === 'array') tests.push(`${head(value)} = '['`);
    if (is === 'object') tests.push(`${head(value)} = '{'`);
    if (is === 'string') tests.push(`${head(value)} = '"'`);
    if (is === 'number') tests.push(isNumber(value));
    if (c.equals !== undefined) {
      const allowed = Array.isArray(c.equals) ? c.equals : [c.equals];
      const equal = allowed.map((a: string | number | boolean) => {
        // The reader re-writes strings unescaped, so equal strings have equal text.
        if (typeof a === 'string') return `CAST(${value} AS VARCHAR) = ${quoteString(JSON.stringify(a))}`;
        if (typeof a === 'number') return `(${isNumber(value)} AND TRY_CAST(CAST(${value} AS VARCHAR) AS DOUBLE) = ${a})`;
        return `CAST(${value} AS VARCHAR) = '${String(a)}'`;
      });
      tests.push(`(${equal.join(' OR ')})`);
    }
    return `coalesce(${tests.join(' AND ')}, false)`;
  };
  const all = (tests: readonly string[]) => (tests.length === 0 ? 'true' : `(${tests.join(' AND ')})`);

  // A message of many readings (NULL where unsure) is the pre-pass's.
  const multiOf = (format: FormatDeclaration): string[] =>
    (format.items ?? []).map((items) => {
      const found = first(items.path);
      if (found?.value === undefined) return 'NULL';
      return all([`coalesce(${head(found.value)} = '[', false)`, ...(items.when ?? []).map(condition)]);
    });
  const multi = formats.flatMap(multiOf);
  const anyOf = (tests: readonly string[]) => `coalesce(${tests.length > 0 ? `(${tests.join(' OR ')})` : 'false'}, true)`;
  const recognised = formats.map((f) => all(f.recognise.map(condition)));
  /** Which format maps a line, once it is known to be in format i. */
  const mappedBy = (format: FormatDeclaration, i: number): string => {
    if (!simpleFormat(format)) return String(VENDOR_CHOICE.prePass);
    // Bytes without their decoded form are decoded by the pre-pass.
    if (format.bytes === undefined) return String(i);
    return `CASE WHEN ${(first(format.bytes.unless) as Found).there} THEN ${i} ELSE ${VENDOR_CHOICE.prePass} END`;
  };
  const recognition = formats.map((f, i) => `WHEN v_r${i} IS NULL THEN ${VENDOR_CHOICE.prePass} WHEN v_r${i} THEN ${mappedBy(f, i)}`).join('\n        ');
  // A format the route names is the only one tried, its messages of many readings included.
  const named = formats.map((f, i) => `WHEN ${quoteString(f.id)} THEN CASE WHEN ${anyOf(multiOf(f))} THEN ${VENDOR_CHOICE.prePass} ELSE ${mappedBy(f, i)} END`).join(' ');

  const readings: string[] = [];
  const sensors: string[] = [];
  formats.forEach((format, i) => {
    if (!simpleFormat(format)) return;
    const time = first(format.time.path)?.value ?? 'NULL';
    // A format whose entities may carry no time takes the arrival's (the staging judges its text).
    const ts = format.time.orArrival ? `coalesce(${time}, to_json(receivedAt))` : time;
    const members = dataset.fields.map((field) => (field.name === EVENT_TIME_FIELD ? `${quoteString(field.name)}: ${ts}` : `${quoteString(field.name)}: ${fieldValue(format.fields[field.name], field.unit)}`));
    readings.push(`WHEN ${i} THEN {${members.join(', ')}}`);
    const sensor = format.sensorId !== undefined ? first(format.sensorId) : undefined;
    // A sensor id is text: a number the engine takes as an id is the judge's to turn into one.
    const id = sensor?.value;
    sensors.push(`WHEN ${i} THEN ${id === undefined ? 'NULL' : `CASE WHEN ${head(id)} = '"' THEN ${id} ->> '$' END`}`);
  });
  /**
   * A field's value as JSON for the staging to judge: NULL only where it is
   * absent (an optional field is then left out, as the engine leaves it);
   * where the SQL cannot convert what is there, a value no field accepts,
   * so the judge decides the reading.
   */
  function fieldValue(source: FieldSource | undefined, fieldUnit: string | undefined): string {
    if (source === undefined) return 'NULL';
    if ('constant' in source) return `${quoteString(JSON.stringify(source.constant))}::JSON`;
    const found = first(source.path);
    if (found === undefined) return 'NULL';
    const unread = `CASE WHEN ${found.there} THEN ${UNREADABLE} END`;
    const value = found.value;
    if (value === undefined) return unread;
    if (fieldUnit === undefined) return value;
    const numberOnly = `CASE WHEN ${isNumber(value)} THEN ${value} WHEN ${value} IS NOT NULL THEN ${UNREADABLE} END`;
    // Only conversions that change no number are made here; any other is the judge's.
    const fromUnit = (unit: string | undefined): string => {
      if (unit === undefined || unit === fieldUnit) return value;
      return conversionFactor(unit, fieldUnit) === 1 ? numberOnly : unread;
    };
    const declared = fromUnit(source.unit);
    if (source.unitPath === undefined) return declared;
    const unit = first(source.unitPath)?.value;
    if (unit === undefined) return unread;
    const same = [...UNITS.keys()].filter((code) => code !== fieldUnit && conversionFactor(code, fieldUnit) === 1);
    const text = column(`CAST(${unit} AS VARCHAR)`);
    const sameUnit = same.map((code) => `${text} = ${quoteString(JSON.stringify(code))}`).join(' OR ');
    return `CASE WHEN ${value} IS NULL THEN NULL WHEN ${unit} IS NULL THEN ${declared}
      WHEN ${text} = ${quoteString(JSON.stringify(fieldUnit))} THEN ${value}
      ${same.length > 0 ? `WHEN ${sameUnit} THEN ${numberOnly}` : ''} ELSE ${UNREADABLE} END`;
  }

  // Below JSON text the reader checks nothing: each object a path goes through must have distinct keys, or the
  // pre-pass maps the object (not the judge: beside a duplicate may be a list of readings only the pre-pass expands).
  const distinct = extracts.map((e, x) => {
    const objects = [...e.objects];
    return `CASE WHEN ${head(e.json)} = '{' THEN list_bool_and(list_transform(json_keys(${e.json}, [${objects.map(quoteString).join(', ')}]), k -> k IS NULL OR len(k) = list_unique(k))) ELSE true END AS v_d${x}`;
  });
  const native = placeSql([EVENT_TIME_FIELD])?.sql;
  if (native === undefined) return undefined;
  // In the order the format engine decides (mapPayload): a route's format, native, many readings, recognised.
  const choice = `CASE
        WHEN payloadBase64 IS NOT NULL AND payloadBytes IS NULL AND rejected IS NULL THEN ${VENDOR_CHOICE.prePass}
        WHEN payload IS NULL OR payloadBytes IS NOT NULL OR rejected IS NOT NULL THEN ${VENDOR_CHOICE.judge}
        ${distinct.length > 0 ? `WHEN NOT (${distinct.map((_, x) => `v_d${x}`).join(' AND ')}) THEN ${VENDOR_CHOICE.prePass}` : ''}
        WHEN format IS NOT NULL AND format <> ${quoteString(NATIVE_FORMAT)} THEN CASE format ${named} ELSE ${VENDOR_CHOICE.judge} END
        WHEN format IS NOT NULL OR ${native} IS NOT NULL THEN ${VENDOR_CHOICE.judge}
        WHEN ${anyOf(multi)} THEN ${VENDOR_CHOICE.prePass}
        ${recognition}
        ELSE ${VENDOR_CHOICE.judge} END`;
  return {
    payloadType,
    hiddenKeys: [...hidden],
    select: (source, readingType) => {
      let sql = `SELECT * FROM ${source}`;
      if (extracts.length > 0) {
        sql = `SELECT *, ${extracts.map((e, x) => `CASE WHEN ${head(e.json)} = '{' THEN json_extract(${e.json}, [${e.pointers.map(quoteString).join(', ')}]) END AS v_x${x}`).join(', ')} FROM (${sql})`;
        sql = `SELECT *, ${distinct.join(', ')} FROM (${sql})`;
      }
      // A value that reads another is computed a layer above it; values of one layer side by side.
      const level = new Map<string, number>();
      for (const [expr, name] of columns) level.set(name, 1 + Math.max(0, ...[...expr.matchAll(/\bv_f\d+\b/g)].map((m) => level.get(m[0]) ?? 0)));
      const layers = Math.max(0, ...level.values());
      for (let l = 1; l <= layers; l++) {
        const here = [...columns].filter(([, name]) => level.get(name) === l);
        sql = `SELECT *, ${here.map(([expr, name]) => `${expr} AS ${name}`).join(', ')} FROM (${sql})`;
      }
      sql = `SELECT *, ${recognised.map((r, i) => `${r} AS v_r${i}`).join(', ')} FROM (${sql})`;
      sql = `SELECT *, ${choice} AS v_choice FROM (${sql})`;
      const scratch = [...extracts.flatMap((_, x) => [`v_x${x}`, `v_d${x}`]), ...columns.values(), ...recognised.map((_, i) => `v_r${i}`)];
      return `SELECT * EXCLUDE (${scratch.join(', ')}),
        CASE v_choice ${readings.map((r) => r.replace(/ THEN \{/, ` THEN CAST({`).concat(` AS ${readingType})`)).join(' ')} END AS v_reading,
        CASE v_choice ${formats.map((f, i) => `WHEN ${i} THEN ${quoteString(f.id)}`).join(' ')} END AS v_format,
        CASE v_choice ${sensors.join(' ')} END AS v_sensor
        FROM (${sql})`;
    },
  };
}
