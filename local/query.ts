import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, DuckDBTypeId, type DuckDBConnection } from '@duckdb/node-api';
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

/** An SQL error from the engine, with its message as DuckDB gave it. */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
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

/**
 * The local stand-in for Athena: an in-memory DuckDB with one view per
 * dataset (named by its id) over the curated zone, plus the derived views.
 */
export class LocalQueryEngine {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(dataDir: string, datasets: readonly Dataset[] = registry): Promise<LocalQueryEngine> {
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    const root = dataDirLayout(dataDir).root;
    for (const dataset of datasets) {
      await conn.run(`CREATE VIEW ${quoteIdent(dataset.id)} AS ${await tableViewSql(dataset, root)}`);
    }
    for (const view of allViews(datasets)) await conn.run(`CREATE VIEW ${quoteIdent(view.name)} AS ${view.sql}`);
    return new LocalQueryEngine(instance, conn);
  }

  /** Runs SQL; `params` fill its ? placeholders in order, as values, never as SQL. */
  async query(sql: string, params: readonly string[] = []): Promise<QueryResult> {
    let reader;
    try {
      reader = await this.conn.runAndReadAll(sql, params.length > 0 ? [...params] : undefined);
    } catch (error) {
      throw new QueryError(error instanceof Error ? error.message : String(error));
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

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
