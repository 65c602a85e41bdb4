import { rmSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import {
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBInstance,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTypeId,
  JsonDuckDBValueConverter,
  StatementType,
  dateValue,
  timestampTZValue,
  type DuckDBConnection,
  type DuckDBDataChunk,
  type DuckDBPreparedStatement,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { z } from 'zod';
import { registry, type Dataset } from '../datasets/index.ts';
import { curatedColumns, DUCKDB_TYPES, parquetSchemaSql, quoteIdent, quoteString } from '../functions/core/columns.ts';
import { zonePrefix } from '../functions/core/keys.ts';
import { allViews, quarantineViewName } from '../glue/views.ts';
import { PLACES_PREFIX, PLACES_TABLE } from '../functions/core/places.ts';
import { dataDirLayout } from './data-dir.ts';

/** How an answer's column is written out: numbers as numbers, dates and instants as such. */
export type CellKind = 'integer' | 'number' | 'text' | 'boolean' | 'date' | 'timestamp' | 'instant' | 'json';

/** One column of an answer. */
export interface ResultColumn {
  readonly name: string;
  readonly kind: CellKind;
}

/** A calendar date, YYYY-MM-DD. */
export class DateCell {
  constructor(readonly iso: string) {}
  toString(): string {
    return this.iso;
  }
}

/**
 * A point in time in microseconds since the epoch: an instant (UTC, the zone
 * shown) or a wall-clock time without zone (a local hour).
 */
export class TimeCell {
  constructor(
    readonly micros: bigint,
    readonly utc: boolean,
  ) {}

  /** ISO 8601, with Z for an instant; fractions only as far as they are not zero. */
  iso(): string {
    const ms = Number(this.micros / 1000n) - (this.micros % 1000n < 0n ? 1 : 0);
    const date = new Date(ms);
    if (Number.isNaN(date.getTime())) return String(this.micros);
    const micros = ((this.micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
    const fraction = micros === 0n ? '' : `.${String(micros).padStart(6, '0').replace(/0+$/, '')}`;
    return `${date.toISOString().slice(0, 19)}${fraction}${this.utc ? 'Z' : ''}`;
  }

  toString(): string {
    return this.iso();
  }

  /** The same point as a JavaScript Date (milliseconds; the wall clock for a time without zone). */
  toDate(): Date {
    return new Date(Number(this.micros / 1000n));
  }
}

/** A value of an answer, typed for the outputs (JSON values for nested types). */
export type Cell = null | boolean | number | bigint | string | DateCell | TimeCell | readonly unknown[] | { readonly [key: string]: unknown };

/** A query's answer, held whole: column names and rows of plain JSON values. */
export interface QueryResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
}

/** A query's answer as it arrives, in batches of rows; iterate it once. */
export interface QueryStream {
  readonly columns: readonly ResultColumn[];
  batches(): AsyncGenerator<Cell[][]>;
}

/** A --param value with its type, so both engines read it alike. */
export type QueryParam =
  | { readonly kind: 'text'; readonly value: string }
  | { readonly kind: 'integer'; readonly value: bigint }
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'boolean'; readonly value: boolean }
  | { readonly kind: 'date'; readonly value: string }
  | { readonly kind: 'instant'; readonly value: string };

const INTEGER_TYPES = new Set<DuckDBTypeId>([
  DuckDBTypeId.TINYINT,
  DuckDBTypeId.SMALLINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UTINYINT,
  DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UINTEGER,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UHUGEINT,
]);

function kindOf(type: DuckDBType): CellKind {
  const id = type.typeId;
  if (INTEGER_TYPES.has(id)) return 'integer';
  switch (id) {
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.DECIMAL:
      return 'number';
    case DuckDBTypeId.VARCHAR:
    case DuckDBTypeId.UUID:
      return 'text';
    case DuckDBTypeId.BOOLEAN:
      return 'boolean';
    case DuckDBTypeId.DATE:
      return 'date';
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return 'timestamp';
    case DuckDBTypeId.TIMESTAMP_TZ:
      return 'instant';
    default:
      return 'json';
  }
}

function micros(value: DuckDBValue): bigint | undefined {
  if (value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampTZValue) return value.micros;
  if (value instanceof DuckDBTimestampSecondsValue) return value.seconds * 1_000_000n;
  if (value instanceof DuckDBTimestampMillisecondsValue) return value.millis * 1000n;
  if (value instanceof DuckDBTimestampNanosecondsValue) return value.nanos / 1000n;
  return undefined;
}

/** A chunk's rows as cells; nested values (lists, structs) as DuckDB's JSON for them. */
function chunkCells(chunk: DuckDBDataChunk, kinds: readonly CellKind[]): Cell[][] {
  const values = chunk.getRows();
  const json = kinds.includes('json') ? chunk.convertRows(JsonDuckDBValueConverter) : undefined;
  return values.map((row, r) =>
    row.map((value, c): Cell => {
      if (value === null) return null;
      switch (kinds[c]) {
        case 'integer': {
          if (typeof value === 'number') return value;
          if (typeof value !== 'bigint') return String(value);
          const n = Number(value);
          return Number.isSafeInteger(n) ? n : value;
        }
        case 'number':
          return value instanceof DuckDBDecimalValue ? value.toDouble() : typeof value === 'number' ? value : Number(String(value));
        case 'text':
          return typeof value === 'string' ? value : String(value);
        case 'boolean':
          return value === true;
        case 'date':
          return new DateCell(value instanceof DuckDBDateValue ? value.toString() : String(value));
        case 'timestamp':
        case 'instant': {
          const m = micros(value);
          return m === undefined ? String(value) : new TimeCell(m, kinds[c] === 'instant');
        }
        default: {
          const v = json?.[r]?.[c];
          return v === undefined ? null : (v as Cell);
        }
      }
    }),
  );
}

/** A cell as a plain JSON value: what {@link LocalQueryEngine.query} answers. */
export function jsonValue(cell: Cell): unknown {
  if (cell instanceof DateCell || cell instanceof TimeCell) return cell.toString();
  if (typeof cell === 'bigint') return cell.toString();
  return cell;
}

/**
 * Table functions a query may call: readers of files (which the engine
 * confines to the curated and quarantine zones), generators, and the
 * catalog's own tables. Every other one is refused: enable_logging and
 * enable_profiling write files and change settings despite the locked
 * configuration, checkpoint changes state, query and
 * json_execute_serialized_sql run SQL given as text (out of reach of the
 * checks below), arrow_scan takes raw memory addresses. Reviewed for DuckDB
 * 1.5; a table function added by a later version stays refused until added here.
 */
export const READ_ONLY_TABLE_FUNCTIONS: ReadonlySet<string> = new Set([
  'read_parquet', 'parquet_scan', 'parquet_metadata', 'parquet_schema', 'parquet_file_metadata', 'parquet_kv_metadata', 'parquet_full_metadata', 'parquet_bloom_probe',
  'read_json', 'read_json_auto', 'read_ndjson', 'read_ndjson_auto', 'read_json_objects', 'read_json_objects_auto', 'read_ndjson_objects', 'json_each', 'json_tree',
  'read_csv', 'read_csv_auto', 'sniff_csv', 'read_text', 'read_blob', 'glob',
  'range', 'generate_series', 'unnest', 'repeat', 'repeat_row', 'summary', 'histogram', 'histogram_values', 'query_table',
  'duckdb_columns', 'duckdb_constraints', 'duckdb_databases', 'duckdb_dependencies', 'duckdb_extensions', 'duckdb_functions', 'duckdb_indexes',
  'duckdb_keywords', 'duckdb_schemas', 'duckdb_sequences', 'duckdb_settings', 'duckdb_tables', 'duckdb_types', 'duckdb_views', 'duckdb_memory',
  'duckdb_temporary_files', 'pragma_table_info', 'pragma_show', 'pragma_version', 'pragma_platform', 'pragma_database_size', 'pragma_collations',
  'pragma_storage_info', 'pragma_metadata_info', 'pragma_user_agent', 'pg_timezone_names', 'icu_calendar_names',
]);

/** What `query` runs, in the words its refusals use. */
const WHAT_QUERY_RUNS = 'query runs one SELECT per call (or SHOW, DESCRIBE, SUMMARIZE, EXPLAIN [ANALYZE] of a SELECT)';

// EXPLAIN ANALYZE runs its statement, so what follows EXPLAIN must pass the same checks as a statement of its own.
const EXPLAIN_PREFIX = /^\s*EXPLAIN\s+(?:ANALYZE\s+)?/i;

// The statement types a checked statement may prepare to: anything else means the checks missed something.
const RUNNABLE = new Set<StatementType>([StatementType.SELECT, StatementType.EXPLAIN]);

/** DuckDB's parse of SQL text, from json_serialize_sql: only SELECT statements serialize. */
const SerializedSql = z.discriminatedUnion('error', [
  z.object({ error: z.literal(false), statements: z.array(z.unknown()) }),
  z.object({ error: z.literal(true), error_type: z.string(), error_message: z.string() }),
]);

const TableFunctionRef = z.object({ type: z.literal('TABLE_FUNCTION') });
const FunctionName = z.object({ function: z.object({ function_name: z.string() }) });

/** An SQL error from the engine, with its message as DuckDB gave it (and a hint where one helps). */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
  }
}

/** A statement `query` will not run: none or several, not a read, or a call that changes the engine. */
export class QueryRefusedError extends QueryError {
  constructor(message: string) {
    super(message);
    this.name = 'QueryRefusedError';
  }
}

/** Whether a zone directory of a dataset holds at least one file with this ending, in some dt= partition. */
async function hasFiles(dir: string, ending: string): Promise<boolean> {
  try {
    for (const partition of await readdir(dir)) {
      if (!partition.startsWith('dt=')) continue;
      if ((await readdir(join(dir, partition))).some((f) => f.endsWith(ending))) return true;
    }
  } catch {
    // no directory: no data yet
  }
  return false;
}

/**
 * The partition date of a file, read from its path: the ten characters after
 * `<dir>/dt=`. Written over DuckDB's filename column, a filter on dt prunes
 * files before they are opened, as hive partitioning would.
 */
function partitionDateSql(dir: string): string {
  return `CAST(substr(filename, ${join(dir, 'dt=').length + 1}, 10) AS DATE)`;
}

/**
 * The SQL of a dataset's table view over its curated Parquet, for a data
 * dir at `dataRoot` (absolute paths: the same SQL serves the BI file).
 *
 * The files' schema comes from the registry, not from their footers:
 * read_parquet's schema (matched by name) reads every file as the registry
 * says, so a file written before a field was added gives NULL for it, one
 * written before an int field became a number is cast, and binding the view
 * opens no file. `dt` is the partition date (a DATE); `ts` and `received_at`
 * are instants (TIMESTAMPTZ), read as the UTC they are stored in whatever
 * the session's time zone. A dataset without files yet is an empty view of
 * the same columns.
 */
export async function tableViewSql(dataset: Dataset, dataRoot: string): Promise<string> {
  const dir = join(dataRoot, zonePrefix('curated', dataset.id));
  const columns = curatedColumns(dataset);
  const output = (name: string, expression: string) => `${expression} AS ${quoteIdent(name)}`;
  if (!(await hasFiles(dir, '.parquet'))) {
    // No data yet: an empty view with the right columns, so queries still bind.
    return `SELECT ${[
      ...columns.map((c) => output(c.name, `CAST(NULL AS ${c.kind === 'timestamp' ? 'TIMESTAMPTZ' : DUCKDB_TYPES[c.kind]})`)),
      output('dt', 'CAST(NULL AS DATE)'),
    ].join(', ')} WHERE false`;
  }
  const schema = parquetSchemaSql(dataset);
  const select = columns.map((c) => output(c.name, c.kind === 'timestamp' ? `timezone('UTC', ${quoteIdent(c.name)})` : quoteIdent(c.name)));
  return `SELECT ${[...select, output('dt', partitionDateSql(dir))].join(', ')} FROM read_parquet(${quoteString(join(dir, 'dt=*', '*.parquet'))}, schema = ${schema}, filename = true)`;
}

/** The columns of a quarantine view, in order, and how each is read from a quarantine record. */
const QUARANTINE_COLUMNS = [
  { name: 'dt', comment: 'Arrival date (UTC) of the raw object' },
  { name: 'received_at', comment: 'Arrival time of the message (UTC)' },
  { name: 'sensor_id', comment: 'Sensor from the topic' },
  { name: 'reason', comment: 'Why the reading was refused' },
  { name: 'message_id', comment: 'Message id (with -<index> for an element of an array)' },
  { name: 'raw_key', comment: 'The raw object that holds the message as it arrived' },
  { name: 'payload', comment: 'The reading as JSON text (personal values pseudonymised)' },
  { name: 'payload_base64', comment: 'A payload that is not JSON, base64' },
  { name: 'payload_note', comment: 'Why the payload is left out, where it is' },
] as const;

/** The quarantine view's columns with their comments, for the catalog. */
export const QUARANTINE_VIEW_COLUMNS: readonly { readonly name: string; readonly comment: string }[] = QUARANTINE_COLUMNS;

/**
 * The SQL of a dataset's quarantine view over its gzip JSON lines: one row
 * per refused reading, with the reason. Keys the record does not carry are
 * NULL. An empty dataset gives an empty view of the same columns.
 */
export async function quarantineViewSql(dataset: Dataset, dataRoot: string): Promise<string> {
  const dir = join(dataRoot, zonePrefix('quarantine', dataset.id));
  const empty = `SELECT CAST(NULL AS DATE) AS "dt", CAST(NULL AS TIMESTAMPTZ) AS "received_at", ${QUARANTINE_COLUMNS.slice(2)
    .map((c) => `CAST(NULL AS VARCHAR) AS ${quoteIdent(c.name)}`)
    .join(', ')} WHERE false`;
  if (!(await hasFiles(dir, '.jsonl.gz'))) return empty;
  const record = "{reason: 'VARCHAR', messageId: 'VARCHAR', sensorId: 'VARCHAR', receivedAt: 'VARCHAR', rawKey: 'VARCHAR', payload: 'JSON', payloadBase64: 'VARCHAR', payloadOmitted: 'VARCHAR'}";
  return [
    `SELECT ${partitionDateSql(dir)} AS "dt", TRY_CAST("receivedAt" AS TIMESTAMPTZ) AS "received_at", "sensorId" AS "sensor_id", "reason",`,
    `  "messageId" AS "message_id", "rawKey" AS "raw_key", CAST("payload" AS VARCHAR) AS "payload", "payloadBase64" AS "payload_base64", "payloadOmitted" AS "payload_note"`,
    `FROM read_json(${quoteString(join(dir, 'dt=*', '*.jsonl.gz'))}, columns = ${record}, format = 'newline_delimited', filename = true)`,
  ].join('\n');
}

/** The local columns of the sensors table, as the Glue table has them (partition last). */
const PLACE_COLUMNS = "{sensor_id: 'VARCHAR', latitude: 'DOUBLE', longitude: 'DOUBLE', name: 'VARCHAR', address: 'VARCHAR', registered_at: 'VARCHAR'}";

/**
 * The SQL of the sensors view: every place under curated/_places/, the
 * dataset read from its path as Athena's partition is. No places yet: an
 * empty view of the same columns.
 */
export async function placesViewSql(dataRoot: string): Promise<string> {
  const dir = join(dataRoot, PLACES_PREFIX);
  let any = false;
  for (const dataset of await readdir(dir).catch(() => [])) {
    if ((await readdir(join(dir, dataset)).catch(() => [])).some((f) => f.endsWith('.json') && !f.startsWith('.'))) any = true;
  }
  const plain = ['sensor_id', 'latitude', 'longitude', 'name', 'address', 'registered_at'].map(quoteIdent).join(', ');
  if (!any) {
    return `SELECT CAST(NULL AS VARCHAR) AS "sensor_id", CAST(NULL AS DOUBLE) AS "latitude", CAST(NULL AS DOUBLE) AS "longitude", CAST(NULL AS VARCHAR) AS "name", CAST(NULL AS VARCHAR) AS "address", CAST(NULL AS VARCHAR) AS "registered_at", CAST(NULL AS VARCHAR) AS "dataset" WHERE false`;
  }
  return `SELECT ${plain}, regexp_extract(filename, '/_places/([a-z][a-z0-9_]*)/[^/]*$', 1) AS "dataset" FROM read_json(${quoteString(join(dir, '*', '*.json'))}, columns = ${PLACE_COLUMNS}, format = 'newline_delimited', filename = true)`;
}

/** Every view the local engine can define, by name: the dataset tables, their derived views and their quarantine. */
export interface ViewCatalog {
  /** The SQL of a view, by its name; undefined for a name the platform does not define. */
  sql(name: string): Promise<string | undefined>;
  /** The views a view reads (defined first). */
  dependencies(name: string): readonly string[];
  readonly names: readonly string[];
}

/** The views of the given datasets over a data dir (absolute paths). */
export function viewCatalog(datasets: readonly Dataset[], dataRoot: string): ViewCatalog {
  const tables = new Map(datasets.map((d) => [d.id, d]));
  const quarantine = new Map(datasets.map((d) => [quarantineViewName(d), d]));
  const derived = new Map(allViews(datasets).map((v) => [v.name, v]));
  return {
    names: [...tables.keys(), ...derived.keys(), ...quarantine.keys(), PLACES_TABLE],
    async sql(name) {
      if (name === PLACES_TABLE) return placesViewSql(dataRoot);
      const table = tables.get(name);
      if (table) return tableViewSql(table, dataRoot);
      const view = derived.get(name);
      if (view) return view.sql;
      const refused = quarantine.get(name);
      return refused ? quarantineViewSql(refused, dataRoot) : undefined;
    },
    dependencies(name) {
      return derived.get(name)?.reads ?? [];
    },
  };
}

// SQL text without its string literals and comments, for finding the names a statement mentions.
const LITERALS_AND_COMMENTS = /'(?:[^']|'')*'|--[^\n]*|\/\*[\s\S]*?\*\//g;
const IDENTIFIERS = /"((?:[^"]|"")*)"|([A-Za-z_][A-Za-z0-9_$]*)/g;
// Statements that list the catalog: every view must exist for them.
const CATALOG_WIDE = /\b(?:SHOW\s+(?:ALL\s+)?TABLES|information_schema|duckdb_(?:tables|views|columns|dependencies)|pragma_show_tables)\b/i;

/**
 * The names of platform views a statement may read: every identifier and
 * string literal (pragma_table_info('air_quality')) that names one. A name
 * met in a literal or a column alias only costs a view that is not read.
 */
export function viewsMentioned(sql: string, names: readonly string[]): string[] {
  if (CATALOG_WIDE.test(sql)) return [...names];
  const known = new Map(names.map((n) => [n.toLowerCase(), n]));
  const found = new Set<string>();
  const add = (word: string) => {
    const name = known.get(word.toLowerCase());
    if (name) found.add(name);
  };
  for (const literal of sql.match(LITERALS_AND_COMMENTS) ?? []) if (literal.startsWith("'")) add(literal.slice(1, -1).replace(/''/g, "'"));
  for (const m of sql.replace(LITERALS_AND_COMMENTS, ' ').matchAll(IDENTIFIERS)) add(m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] ?? ''));
  return [...found];
}

/** The name of every table function a parsed statement calls, wherever it sits (subqueries, CTEs, joins). */
function tableFunctionsOf(node: unknown, names: string[] = []): string[] {
  if (typeof node !== 'object' || node === null) return names;
  if (TableFunctionRef.safeParse(node).success) {
    const call = FunctionName.safeParse(node);
    // A table function whose name cannot be read is refused like an unknown one.
    names.push(call.success ? call.data.function.function_name.toLowerCase() : '(unnamed)');
  }
  for (const child of Object.values(node)) tableFunctionsOf(child, names);
  return names;
}

/** The data directory `query` was pointed at does not exist or is not a directory. */
export class DataDirNotFoundError extends QueryError {
  constructor(dir: string, what: string) {
    super(`no data directory at ${dir} (${what}): start the platform there first (npx datastroom dev --data-dir ${dir}), or name the one it uses with --data-dir`);
    this.name = 'DataDirNotFoundError';
  }
}

/** Checks that a data dir exists and is a directory; an empty one (nothing curated yet) is fine. */
async function checkDataDir(root: string): Promise<void> {
  let info;
  try {
    info = await stat(root);
  } catch (error) {
    throw new DataDirNotFoundError(root, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : String(error));
  }
  if (!info.isDirectory()) throw new DataDirNotFoundError(root, 'it is a file');
}

/** A --param value bound to its placeholder with its own type. */
function bindParam(prepared: DuckDBPreparedStatement, index: number, param: string | QueryParam): void {
  if (typeof param === 'string') return prepared.bindVarchar(index, param);
  switch (param.kind) {
    case 'text':
      return prepared.bindVarchar(index, param.value);
    case 'integer':
      return prepared.bindBigInt(index, param.value);
    case 'number':
      return prepared.bindDouble(index, param.value);
    case 'boolean':
      return prepared.bindBoolean(index, param.value);
    case 'date': {
      const [y, m, d] = param.value.split('-').map(Number);
      return prepared.bindDate(index, dateValue({ year: y ?? 0, month: m ?? 1, day: d ?? 1 }));
    }
    case 'instant':
      return prepared.bindTimestampTZ(index, timestampTZValue(BigInt(Date.parse(param.value)) * 1000n));
  }
}

/**
 * The local stand-in for Athena: an in-memory DuckDB with one view per
 * dataset (named by its id) over the curated zone, the derived views and
 * a quarantine view per dataset, under the names they have on Athena.
 * A query defines only the views it mentions, each from the registry's
 * schema, so its cost follows what it reads, not what the data dir holds.
 *
 * It reads the curated and quarantine zones and nothing else: the engine
 * has no access to other files (raw plates, the pseudonymisation key,
 * devices, anything outside the data dir), cannot install or load
 * extensions, and its configuration is locked. A query is one read-only
 * statement: writing files (COPY, EXPORT), attaching databases, settings
 * and calls that change the engine are refused before anything runs.
 */
export class LocalQueryEngine {
  private readonly defined = new Set<string>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly readable: readonly string[],
    private readonly spill: string,
    private readonly views: ViewCatalog,
  ) {}

  /** Opens the engine on a data dir; throws {@link DataDirNotFoundError} when there is none. */
  static async open(dataDir: string, datasets: readonly Dataset[] = registry): Promise<LocalQueryEngine> {
    const layout = dataDirLayout(dataDir);
    await checkDataDir(layout.root);
    // DuckDB adds its temporary directory to the allowed ones, for reading and writing: a private, empty one (mode 700), not .tmp in the working directory.
    const spill = await mkdtemp(join(tmpdir(), 'datastroom-query-'));
    let instance: DuckDBInstance | undefined;
    try {
      instance = await DuckDBInstance.create(':memory:', {
        temp_directory: spill,
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
        allow_community_extensions: 'false',
        allow_unsigned_extensions: 'false',
      });
      const conn = await instance.connect();
      // The trailing separator keeps a sibling such as curated-old/ out.
      const readable = [layout.zones.curated, layout.zones.quarantine].map((dir) => dir + sep);
      // Locked before any view exists, so the views themselves are held to the zones.
      // Instants show and truncate in UTC, as on Athena, whatever the machine's zone.
      await conn.run("SET TimeZone = 'UTC'");
      await conn.run(`SET allowed_directories = [${readable.map(quoteString).join(', ')}]`);
      await conn.run('SET enable_external_access = false');
      await conn.run('SET lock_configuration = true');
      return new LocalQueryEngine(instance, conn, readable, spill, viewCatalog(datasets, layout.root));
    } catch (error) {
      instance?.closeSync();
      await rm(spill, { recursive: true, force: true });
      throw error;
    }
  }

  /** The platform views defined so far: only those the statements run have mentioned. */
  get definedViews(): readonly string[] {
    return [...this.defined];
  }

  /** Defines a platform view and what it reads, once per engine. */
  private async define(name: string): Promise<void> {
    if (this.defined.has(name)) return;
    for (const dependency of this.views.dependencies(name)) await this.define(dependency);
    const sql = await this.views.sql(name);
    if (sql === undefined) return;
    try {
      await this.conn.run(`CREATE VIEW ${quoteIdent(name)} AS ${sql}`);
    } catch (error) {
      throw this.engineError(error);
    }
    this.defined.add(name);
  }

  /** Prepares one admitted statement, its views defined and its parameters bound. */
  private async prepare(sql: string, params: readonly (string | QueryParam)[]): Promise<DuckDBPreparedStatement> {
    await this.admit(sql);
    for (const name of viewsMentioned(sql, this.views.names)) await this.define(name);
    let prepared: DuckDBPreparedStatement | undefined;
    try {
      prepared = await (await this.conn.extractStatements(sql)).prepare(0);
      if (!RUNNABLE.has(prepared.statementType)) throw new QueryRefusedError(`${WHAT_QUERY_RUNS}; this statement is not one`);
      if (params.length !== prepared.parameterCount) {
        throw new QueryError(`the statement has ${prepared.parameterCount} placeholder${prepared.parameterCount === 1 ? '' : 's'} (?), but ${params.length} --param value${params.length === 1 ? ' was' : 's were'} given`);
      }
      params.forEach((param, i) => bindParam(prepared as DuckDBPreparedStatement, i + 1, param));
      return prepared;
    } catch (error) {
      prepared?.destroySync();
      throw this.engineError(error);
    }
  }

  /**
   * Runs one read-only SQL statement and streams its answer: rows arrive in
   * batches as DuckDB produces them, so an answer of any size takes constant
   * memory. `params` fill its ? placeholders in order, as values, never as
   * SQL. Throws {@link QueryRefusedError} for anything else, {@link QueryError}
   * for an error of the engine (also while the rows arrive).
   */
  async stream(sql: string, params: readonly (string | QueryParam)[] = []): Promise<QueryStream> {
    const prepared = await this.prepare(sql, params);
    let result;
    try {
      result = await prepared.stream();
    } catch (error) {
      prepared.destroySync();
      throw this.engineError(error);
    }
    const types = result.columnTypes();
    const columns = result.columnNames().map((name, i) => ({ name, kind: kindOf(types[i] as DuckDBType) }));
    const kinds = columns.map((c) => c.kind);
    const fail = (error: unknown) => this.engineError(error);
    const answer = result;
    return {
      columns,
      async *batches() {
        try {
          for (;;) {
            let chunk;
            try {
              chunk = await answer.fetchChunk();
            } catch (error) {
              throw fail(error);
            }
            if (!chunk || chunk.rowCount === 0) return;
            yield chunkCells(chunk, kinds);
          }
        } finally {
          prepared.destroySync();
        }
      },
    };
  }

  /**
   * Runs one read-only SQL statement and holds its whole answer, as plain
   * JSON values (dates and instants as ISO 8601 text). For answers of any
   * size, use {@link stream}.
   */
  async query(sql: string, params: readonly (string | QueryParam)[] = []): Promise<QueryResult> {
    const answer = await this.stream(sql, params);
    const rows: unknown[][] = [];
    for await (const batch of answer.batches()) for (const row of batch) rows.push(row.map(jsonValue));
    return { columns: answer.columns.map((c) => c.name), rows };
  }

  /**
   * Refuses, before anything is prepared (preparing EXPORT DATABASE already
   * creates its directory), all but one statement that only reads.
   */
  private async admit(sql: string): Promise<void> {
    const parsed = await this.serialize(sql);
    if (parsed.error === false) {
      if (parsed.statements.length === 0) throw new QueryRefusedError(`no SQL statement given: ${WHAT_QUERY_RUNS}`);
      if (parsed.statements.length > 1) throw this.severalStatements(parsed.statements.length);
      this.checkTableFunctions(parsed.statements);
      return;
    }
    // Not a lone SELECT: a syntax error (DuckDB's own message), several statements, EXPLAIN, or a refusal.
    let count: number;
    try {
      count = (await this.conn.extractStatements(sql)).count;
    } catch (error) {
      throw this.engineError(error);
    }
    if (count > 1) throw this.severalStatements(count);
    const explain = EXPLAIN_PREFIX.exec(sql);
    if (explain) {
      const explained = await this.serialize(sql.slice(explain[0].length));
      if (explained.error === false && explained.statements.length === 1) {
        this.checkTableFunctions(explained.statements);
        return;
      }
    }
    const keyword = (text: string) => /^[\s(;]*([A-Za-z]+)/.exec(text)?.[1]?.toUpperCase() ?? 'this statement';
    const what = explain ? `EXPLAIN ${keyword(sql.slice(explain[0].length))}` : keyword(sql);
    throw new QueryRefusedError(
      `${WHAT_QUERY_RUNS}, not ${what}: it reads the curated and quarantine zones, and cannot write files (COPY, EXPORT), attach databases, change settings or install extensions`,
    );
  }

  private async serialize(sql: string): Promise<z.infer<typeof SerializedSql>> {
    try {
      const reader = await this.conn.runAndReadAll(`SELECT json_serialize_sql(${quoteString(sql)})`);
      return SerializedSql.parse(JSON.parse(String(reader.getRowsJson()[0]?.[0])));
    } catch (error) {
      throw this.engineError(error);
    }
  }

  private checkTableFunctions(statements: readonly unknown[]): void {
    const refused = tableFunctionsOf(statements).find((name) => !READ_ONLY_TABLE_FUNCTIONS.has(name));
    if (refused !== undefined) {
      throw new QueryRefusedError(
        `query may not call ${refused}(): it calls only the table functions that read files of the zones (Parquet, JSON, CSV, text) or the catalog, none from extensions, none that write files, change settings or run SQL given as text`,
      );
    }
  }

  private severalStatements(count: number): QueryRefusedError {
    return new QueryRefusedError(`${WHAT_QUERY_RUNS}; got ${count} statements: run them one at a time`);
  }

  /** DuckDB's error as a QueryError, with a hint when it hit the lockdown. */
  private engineError(error: unknown): QueryError {
    if (error instanceof QueryError) return error;
    const message = (error instanceof Error ? error.message : String(error)).replace(/^Failed to extract statements: /, '');
    if (/^Permission Error/.test(message)) {
      return new QueryError(`${message}\nquery may only read the curated and quarantine zones: ${this.readable.join(', ')}`);
    }
    if (/ extension\b/.test(message) && /^Catalog Error/.test(message)) {
      return new QueryError(`${message}\nquery cannot install or load extensions; parquet, json and icu are built in`);
    }
    return new QueryError(message);
  }

  /** Closes the engine and removes its temporary directory. */
  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
    rmSync(this.spill, { recursive: true, force: true });
  }
}
