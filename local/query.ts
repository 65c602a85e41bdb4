import { rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { DuckDBInstance, DuckDBTypeId, StatementType, type DuckDBConnection, type DuckDBPreparedStatement } from '@duckdb/node-api';
import { z } from 'zod';
import { registry, type Dataset } from '../datasets/index.ts';
import { curatedColumns, DUCKDB_TYPES, PARTITION, quoteIdent, quoteString } from '../functions/core/columns.ts';
import { zonePrefix } from '../functions/core/keys.ts';
import { allViews } from '../glue/views.ts';
import { dataDirLayout } from './data-dir.ts';

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

/** A query's answer: column names and rows of plain JSON values. */
export interface QueryResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
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

async function hasParquet(dir: string): Promise<boolean> {
  try {
    for (const partition of await readdir(dir)) {
      if (!partition.startsWith('dt=')) continue;
      if ((await readdir(join(dir, partition))).some((f) => f.endsWith('.parquet'))) return true;
    }
  } catch {
    // no directory: no data yet
  }
  return false;
}

/** The SQL of a dataset's table view over its curated Parquet (hive partitions: `dt` is a column). */
export async function tableViewSql(dataset: Dataset, dataRoot: string): Promise<string> {
  const dir = join(dataRoot, zonePrefix('curated', dataset.id));
  const columns = [...curatedColumns(dataset), PARTITION];
  if (!(await hasParquet(dir))) {
    // No data yet: an empty view with the right columns, so queries still bind.
    return `SELECT ${columns.map((c) => `CAST(NULL AS ${DUCKDB_TYPES[c.kind]}) AS ${quoteIdent(c.name)}`).join(', ')} WHERE false`;
  }
  const glob = join(dir, 'dt=*', '*.parquet');
  return `SELECT ${columns.map((c) => quoteIdent(c.name)).join(', ')} FROM read_parquet(${quoteString(glob)}, hive_partitioning = true, hive_types = {'dt': VARCHAR}, union_by_name = true)`;
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

/**
 * The local stand-in for Athena: an in-memory DuckDB with one view per
 * dataset (named by its id) over the curated zone, plus the derived views.
 *
 * It reads the curated and quarantine zones and nothing else: the engine
 * has no access to other files (raw plates, the pseudonymisation key,
 * devices, anything outside the data dir), cannot install or load
 * extensions, and its configuration is locked. A query is one read-only
 * statement: writing files (COPY, EXPORT), attaching databases, settings
 * and calls that change the engine are refused before anything runs.
 */
export class LocalQueryEngine {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly readable: readonly string[],
    private readonly spill: string,
  ) {}

  static async open(dataDir: string, datasets: readonly Dataset[] = registry): Promise<LocalQueryEngine> {
    const layout = dataDirLayout(dataDir);
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
      // Locked before the views exist, so the views themselves are held to the zones.
      await conn.run(`SET allowed_directories = [${readable.map(quoteString).join(', ')}]`);
      await conn.run('SET enable_external_access = false');
      await conn.run('SET lock_configuration = true');
      for (const dataset of datasets) {
        await conn.run(`CREATE VIEW ${quoteIdent(dataset.id)} AS ${await tableViewSql(dataset, layout.root)}`);
      }
      for (const view of allViews(datasets)) await conn.run(`CREATE VIEW ${quoteIdent(view.name)} AS ${view.sql}`);
      return new LocalQueryEngine(instance, conn, readable, spill);
    } catch (error) {
      instance?.closeSync();
      await rm(spill, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Runs one read-only SQL statement; `params` fill its ? placeholders in
   * order, as values, never as SQL. Throws {@link QueryRefusedError} for
   * anything else, {@link QueryError} for an error of the engine.
   */
  async query(sql: string, params: readonly string[] = []): Promise<QueryResult> {
    await this.admit(sql);
    let reader;
    let prepared: DuckDBPreparedStatement | undefined;
    try {
      prepared = await (await this.conn.extractStatements(sql)).prepare(0);
      if (!RUNNABLE.has(prepared.statementType)) throw new QueryRefusedError(`${WHAT_QUERY_RUNS}; this statement is not one`);
      if (params.length > 0) prepared.bind([...params]);
      reader = await prepared.runAndReadAll();
    } catch (error) {
      throw this.engineError(error);
    } finally {
      prepared?.destroySync();
    }
    // JSON renders every integer as text; counts and sums read better as numbers where they fit.
    const integral = reader.columnTypes().map((t) => INTEGER_TYPES.has(t.typeId));
    const rows = reader.getRowsJson().map((row) =>
      row.map((value, i) => {
        if (!integral[i] || typeof value !== 'string') return value;
        const n = Number(value);
        return Number.isSafeInteger(n) ? n : value;
      }),
    );
    return { columns: reader.columnNames(), rows };
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
