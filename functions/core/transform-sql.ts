/**
 * The transform's fast path, compiled from the registry into DuckDB SQL.
 *
 * The SQL accepts a reading only where the reference judge (reading.ts) would
 * surely accept it too: it is deliberately narrower (ASCII text, exact JSON
 * types, no optional fields left out). Everything it does not accept goes to
 * the reference judge, which either curates it after all or quarantines it
 * with a reason. So the SQL decides speed, never outcome; a property test
 * holds the two to the same answers.
 */
import { EVENT_TIME_FIELD, NATIVE_FORMAT, PARTITION_COLUMN, type Dataset, type FieldSpec } from '../../datasets/index.ts';
import { SENSOR_ID_PATTERN } from './envelope.ts';
import { quoteIdent, quoteString } from './columns.ts';
import { MAX_NESTING, type TransformPolicy } from './reading.ts';
import { VENDOR_CHOICE, type VendorReader } from './formats-sql.ts';
import { END_INSTANT_MICROS, FIRST_INSTANT_MICROS } from './timestamps.ts';

/** Parameters every fast-path statement may use. */
export const SQL_PARAMS = {
  ipad: 'hmac_ipad',
  opad: 'hmac_opad',
} as const;

/** The DuckDB type of a reading: a struct of the dataset's fields, each kept as JSON. */
function readingStructType(dataset: Dataset): string {
  return `STRUCT(${dataset.fields.map((f) => `${quoteIdent(f.name)} JSON`).join(', ')})`;
}

/** from_json's structure for a payload read from text: the same struct as {@link readingStructType}. */
function payloadStructure(dataset: Dataset): string {
  return quoteString(JSON.stringify(Object.fromEntries(dataset.fields.map((f) => [f.name, 'JSON']))));
}

/**
 * read_json's column map for a raw object. An embedded payload is read as a
 * map of every key it holds, so keys beyond the dataset's fields are seen
 * (and their depth judged) rather than dropped unseen.
 */
export function rawColumns(payloadType = 'MAP(VARCHAR, JSON)'): string {
  return `{messageId: 'VARCHAR', sensorId: 'VARCHAR', receivedAt: 'VARCHAR', via: 'VARCHAR', format: 'VARCHAR', payload: ${quoteString(payloadType)}, payloadBase64: 'VARCHAR', payloadBytes: 'BIGINT', rejected: 'VARCHAR'}`;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function bounds(f: FieldSpec, value: string): string[] {
  const checks: string[] = [];
  if (f.minimum !== undefined) checks.push(`${value} >= ${f.minimum}`);
  if (f.maximum !== undefined) checks.push(`${value} <= ${f.maximum}`);
  if (f.exclusiveMinimum !== undefined) checks.push(`${value} > ${f.exclusiveMinimum}`);
  if (f.exclusiveMaximum !== undefined) checks.push(`${value} < ${f.exclusiveMaximum}`);
  return checks;
}

/**
 * A field's value parsed from its JSON text, NULL where it is not of the
 * field's JSON type. JSON members arrive minified, so a number's text is only
 * digits, sign, point and exponent, and DuckDB parses it to the same double
 * JavaScript does; a string's text starts with a quote.
 */
function parsedValue(f: FieldSpec): string {
  const json = `reading.${quoteIdent(f.name)}`;
  switch (f.kind) {
    case 'timestamp':
      throw new Error('the event time is parsed separately');
    case 'double':
    case 'bigint':
      return `TRY_CAST(CAST(${json} AS VARCHAR) AS DOUBLE)`;
    case 'boolean':
      return `CASE CAST(${json} AS VARCHAR) WHEN 'true' THEN true WHEN 'false' THEN false END`;
    case 'varchar':
      return `CASE WHEN starts_with(CAST(${json} AS VARCHAR), '"') THEN ${json} ->> '$' END`;
  }
}

/** The column telling that an optional field was left out of a mapped reading. */
const absent = (f: FieldSpec) => quoteIdent(`${f.name}__absent`);

/**
 * Where the fast path accepts a field's parsed value: never wider than zod.
 * A reading a format mapped leaves out an optional field it does not carry,
 * as the format engine does.
 */
function fieldPredicate(f: FieldSpec, mapped: boolean): string {
  const v = quoteIdent(f.name);
  const checks: string[] = [`${v} IS NOT NULL`];
  if (mapped && !f.required) return `(${absent(f)} OR ${fieldChecks(f, v, checks)})`;
  return fieldChecks(f, v, checks);
}

function fieldChecks(f: FieldSpec, v: string, checks: string[]): string {
  switch (f.kind) {
    case 'timestamp':
    case 'boolean':
      break;
    case 'double':
      checks.push(`isfinite(${v})`, ...bounds(f, v));
      break;
    case 'bigint':
      // zod's int is a safe integer, whatever its JSON spelling (5 and 5.0 alike).
      checks.push(`isfinite(${v})`, `${v} = round(${v})`, `abs(${v}) <= ${MAX_SAFE}`, ...bounds(f, v));
      break;
    case 'varchar':
      // zod counts UTF-16 units and DuckDB code points; they agree on ASCII, so only ASCII is judged here.
      if (f.personal) checks.push(`regexp_full_match(${v}, '[\\x20-\\x7E]*')`);
      if (f.minLength !== undefined || f.maxLength !== undefined || f.pattern !== undefined) checks.push(`strlen(${v}) = length(${v})`);
      if (f.minLength !== undefined) checks.push(`length(${v}) >= ${f.minLength}`);
      if (f.maxLength !== undefined) checks.push(`length(${v}) <= ${f.maxLength}`);
      if (f.enum !== undefined) checks.push(`${v} IN (${f.enum.map(quoteString).join(', ')})`);
      if (f.pattern !== undefined) checks.push(`regexp_matches(${v}, ${quoteString(f.pattern)})`);
      break;
  }
  return checks.join(' AND ');
}

/** The curated value of an accepted field. */
function curatedValue(f: FieldSpec): string {
  const v = quoteIdent(f.name);
  switch (f.kind) {
    case 'timestamp':
      return 'make_timestamp(ts_us)';
    case 'bigint':
      // Guarded by ok: the cast of a non-integral or infinite value would fail.
      return `CASE WHEN ok THEN CAST(${v} AS BIGINT) END`;
    case 'varchar':
      return f.personal ? `CASE WHEN ok THEN ${pseudonymSql(v)} END` : v;
    default:
      return v;
  }
}

/** Pattern the event time must match before DuckDB parses it: zod's own ISO pattern. */
export function eventTimePattern(dataset: Dataset): string {
  const pattern = dataset.fields.find((f) => f.name === EVENT_TIME_FIELD)?.pattern;
  if (!pattern) throw new Error(`dataset "${dataset.id}": ts has no ISO pattern`);
  return pattern;
}

/**
 * The staging query: one row per raw line with the curated columns computed
 * and `ok` telling whether the fast path accepts it. Values of rows that are
 * not ok are meaningless; only `ok` rows are ever written, and the reference
 * judge reads the others again from the object. Nothing else is kept: this
 * table is the transform's largest allocation.
 */
export function stagingSelect(dataset: Dataset, policy: TransformPolicy, source: string, vendor?: VendorReader): string {
  const maxAheadUs = policy.futureToleranceSeconds * 1_000_000;
  const maxLateUs = policy.maxLatenessDays * 86_400_000_000;
  const ts = `reading.${quoteIdent(EVENT_TIME_FIELD)}`;
  const readingFields = dataset.fields.filter((f) => f.name !== EVENT_TIME_FIELD);
  const ok = [
    'message_id IS NOT NULL',
    `regexp_full_match(sensor_id, ${quoteString(SENSOR_ID_PATTERN.source.slice(1, -1))})`,
    'recv_us IS NOT NULL',
    'ts_us IS NOT NULL',
    `ts_us >= ${FIRST_INSTANT_MICROS}`,
    `ts_us < ${END_INSTANT_MICROS}`,
    `ts_us <= recv_us + ${maxAheadUs}`,
    `ts_us >= recv_us - ${maxLateUs}`,
    ...readingFields.map((f) => fieldPredicate(f, vendor !== undefined)),
  ];
  const absentFlags = vendor !== undefined ? readingFields.filter((f) => !f.required).map((f) => `, reading.${quoteIdent(f.name)} IS NULL AS ${absent(f)}`) : [];
  return `
    SELECT ok, undecoded, message_id, sensor_id, make_timestamp(recv_us) AS received_at, format,
      ${dataset.fields.map((f) => `${curatedValue(f)} AS ${quoteIdent(f.name)}`).join(', ')},
      CAST(make_timestamp(ts_us) AS DATE) AS ${PARTITION_COLUMN}
    FROM (
      SELECT *, coalesce(${ok.join(' AND ')}, false) AS ok
      FROM (
        SELECT *,
          CASE WHEN regexp_full_match(ts_text, ${quoteString(eventTimePattern(dataset).slice(1, -1))})
            THEN epoch_us(TRY_CAST(ts_text AS TIMESTAMPTZ)) END AS ts_us
        FROM (
          SELECT messageId AS message_id, sensorId AS sensor_id, coalesce(format, ${quoteString(NATIVE_FORMAT)}) AS format,
            epoch_us(TRY_CAST(receivedAt AS TIMESTAMPTZ)) AS recv_us,
            -- The event time's text, unescaped once; NULL unless it is a JSON string.
            CASE WHEN starts_with(CAST(${ts} AS VARCHAR), '"') THEN ${ts} ->> '$' END AS ts_text,
            ${readingFields.map((f) => `${parsedValue(f)} AS ${quoteIdent(f.name)}`).join(', ')}${absentFlags.join('')},
            undecoded
          FROM (${vendor !== undefined ? mappedReadingsSelect(dataset, vendor, source) : readingsSelect(dataset, source)})
        )
      )
    )`;
}

/**
 * One row per raw line with its reading as a struct of the dataset's fields.
 *
 * An embedded JSON payload is read as it is when the SQL can be sure of it:
 * it holds the dataset's fields and nothing else, or its other keys are
 * distinct and hold so few brackets that it cannot nest deeper than a
 * reading may. Any other (a duplicate key, where DuckDB keeps the first and
 * JavaScript the last; an extra field nesting deep) gets no reading here, so
 * the reference judge decides it.
 *
 * A base64 payload (as the cloud's topic rule writes every one) is decoded
 * where it is a JSON object JSON.parse reads the same way. DuckDB's JSON
 * reader is more lenient (trailing commas, NaN, Infinity) and keeps the
 * first of duplicate keys where JavaScript keeps the last, so the decoded
 * text must also pass a stricter test: with strings, true, false, null and
 * whitespace taken out, what remains is only punctuation and numbers, with
 * no comma before a closing bracket; its keys are distinct; and its brackets
 * are few enough that it cannot nest deeper than a reading may.
 * `undecoded` marks bytes that may hold readings the SQL does not read:
 * arrays, lenient or ambiguous JSON, lone surrogates, and base64 DuckDB
 * cannot decode but Node's more lenient decoder can (no padding, line
 * breaks, the URL alphabet). Only those need the pre-pass. Bytes that are
 * not UTF-8 or not JSON at all are refused by the reference judge as they are.
 */
function readingsSelect(dataset: Dataset, source: string): string {
  const fields = dataset.fields.map((f) => f.name);
  const embedded = `{${fields.map((name) => `${quoteString(name)}: payload[${quoteString(name)}]`).join(', ')}}`;
  const brackets = (v: string) => `length(CAST(${v} AS VARCHAR)) - length(translate(CAST(${v} AS VARCHAR), '{[', ''))`;
  // The payload's own brace is one level: its values may add one fewer than a reading may nest.
  const embeddedPlain = `cardinality(payload) = ${fields.length}
      OR (len(map_keys(payload)) = len(list_distinct(map_keys(payload)))
        AND coalesce(list_sum(list_transform(map_values(payload), v -> ${brackets('v')})), 0) < ${MAX_NESTING})`;
  // Each test runs only where the ones before it held: json_type and json_keys throw on invalid text.
  // Valid JSON has no unescaped quote inside a string, so the first pattern finds every string.
  return `
    SELECT messageId, sensorId, receivedAt, format,
      CASE WHEN strict THEN TRY(from_json(b64_text, ${payloadStructure(dataset)}))
        WHEN embedded AND (${embeddedPlain}) THEN CAST(${embedded} AS ${readingStructType(dataset)}) END AS reading,
      (b64 AND NOT strict
        AND (b64_bytes IS NULL OR coalesce(json_valid(b64_text), false) OR regexp_matches(b64_text, '\\\\u[dD][89a-fA-F]')))
      -- A payload in another format (one without the event time, or a route that names one) is mapped by the pre-pass.
      -- (null counts as absent, as in formats.ts: isNativeShape)
      OR CASE WHEN strict THEN coalesce(CAST(json_extract(b64_text, ${quoteString(`$.${EVENT_TIME_FIELD}`)}) AS VARCHAR), 'null') = 'null' ELSE false END
      OR (embedded AND payload[${quoteString(EVENT_TIME_FIELD)}] IS NULL)
      OR ((via IS NOT NULL OR format <> ${quoteString(NATIVE_FORMAT)}) AND rejected IS NULL) AS undecoded
    FROM (
      SELECT *, CASE WHEN object THEN
          length(translate(skeleton, '-0123456789eE.+{}[]:,', '')) = 0
          AND NOT contains(skeleton, ',}') AND NOT contains(skeleton, ',]')
          AND length(skeleton) - length(translate(skeleton, '{[', '')) <= ${MAX_NESTING}
          AND len(json_keys(b64_text)) = len(list_distinct(json_keys(b64_text)))
        ELSE false END AS strict
      FROM (
        SELECT *, CASE WHEN object
            THEN translate(regexp_replace(b64_text, '"(?:[^"\\\\]|\\\\.)*"|true|false|null', '0', 'g'), ' \t\n\r', '') END AS skeleton
        FROM (
          SELECT *, coalesce(CASE WHEN json_valid(b64_text) THEN json_type(b64_text) = 'OBJECT' END, false) AS object
          FROM (
            SELECT *, TRY(decode(b64_bytes)) AS b64_text
            FROM (
              SELECT messageId, sensorId, receivedAt, via, format, rejected, payload, b64, embedded,
                CASE WHEN b64 THEN TRY(from_base64(payloadBase64)) END AS b64_bytes
              FROM (
                -- Which payload the judge reads (decodePayload): a size refusal first, then bytes, then JSON.
                SELECT *, payloadBase64 IS NOT NULL AND payloadBytes IS NULL AND rejected IS NULL AS b64,
                  payload IS NOT NULL AND payloadBase64 IS NULL AND payloadBytes IS NULL AND rejected IS NULL AS embedded
                FROM ${source}
              )
            )
          )
        )
      )
    )`;
}

/**
 * One row per raw line of an object in other formats, with its reading as
 * the format maps it (formats-sql.ts); NULL where the SQL does not map it,
 * and `undecoded` where its readings need the pre-pass.
 */
function mappedReadingsSelect(dataset: Dataset, vendor: VendorReader, source: string): string {
  return `
    -- Through an integration the payload names the sensor; where it names none the SQL reads, the judge decides (an empty id is refused).
    SELECT messageId, CASE WHEN via IS NULL OR v_choice < 0 THEN sensorId ELSE coalesce(v_sensor, '') END AS sensorId, receivedAt, v_format AS format,
      v_reading AS reading, v_choice = ${VENDOR_CHOICE.prePass} AS undecoded
    FROM (${vendor.select(source, readingStructType(dataset))})`;
}

/** HMAC-SHA256 of the canonical form of a text, from the padded keys passed as parameters. */
function pseudonymSql(expr: string): string {
  const canonical = `encode(upper(regexp_replace(${expr}, '[ .\\-]', '', 'g')))`;
  return `sha256($${SQL_PARAMS.opad} || unhex(sha256($${SQL_PARAMS.ipad} || ${canonical})))`;
}
