import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** How the transform's DuckDB runs. */
export interface EngineOptions {
  /** A database file for state that must survive (local claims), or in memory. @default ':memory:' */
  readonly path?: string;
  /** Worker threads. @default - one per core */
  readonly threads?: number;
  /**
   * Memory DuckDB may hold before it spills to `tempDirectory`. Sized with
   * the process (a Lambda's memory, say), so a large raw object spills
   * instead of running out of memory.
   * @default 256
   */
  readonly memoryLimitMb?: number;
  /** Where DuckDB spills. @default - DuckDB's own (next to the database, or .tmp) */
  readonly tempDirectory?: string;
}

/** Memory a transform engine may use unless told otherwise. */
export const ENGINE_MEMORY_LIMIT_MB = 256;

/** Opens the DuckDB instance the transform runs in. */
export async function createTransformEngine(options: EngineOptions = {}): Promise<DuckDBInstance> {
  const config: Record<string, string> = {
    memory_limit: `${options.memoryLimitMb ?? ENGINE_MEMORY_LIMIT_MB}MB`,
  };
  if (options.threads !== undefined) config.threads = String(options.threads);
  if (options.tempDirectory !== undefined) config.temp_directory = options.tempDirectory;
  return DuckDBInstance.create(options.path ?? ':memory:', config);
}

/**
 * An engine opened on first use and kept for the life of the process (a
 * warm Lambda's later invocations reuse it); an open that failed is tried
 * again at the next use.
 */
export function lazyTransformEngine(options: EngineOptions): () => Promise<DuckDBInstance> {
  let engine: Promise<DuckDBInstance> | undefined;
  return () => {
    engine ??= createTransformEngine(options).catch((error: unknown) => {
      engine = undefined;
      throw error;
    });
    return engine;
  };
}

/** What one transform's process may hold in all unless told otherwise: the platform's 512 MB target, with room to spare. */
export const TRANSFORM_MEMORY_BUDGET_MB = 448;

/** What DuckDB holds beyond its memory limit (allocations outside its buffer manager), as measured with two threads. */
const ENGINE_OVERHEAD_MB = 64;

/** The least DuckDB is ever left: below this it spills so much that a transform crawls. */
const ENGINE_FLOOR_MB = 96;

const MB = 1024 * 1024;
const UNITS: Readonly<Record<string, number>> = { bytes: 1, byte: 1, kib: 1024, mib: MB, gib: 1024 * MB, tib: 1024 * 1024 * MB, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };

/** DuckDB's memory limit as it reports it ("244.1 MiB"), in bytes; undefined for anything else. */
export function parseMemorySetting(text: string): number | undefined {
  const m = /^([\d.]+)\s*([a-z]+)$/i.exec(text.trim());
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  return m && unit !== undefined ? Number(m[1]) * unit : undefined;
}

/**
 * Keeps one transform within a memory budget: before each large statement
 * DuckDB's limit is set to what the budget leaves once everything else the
 * process holds (JavaScript's heap, the runtime) is counted, never above the
 * limit the engine was created with. A raw object whose pre-pass grew the
 * heap makes DuckDB spill sooner instead of the process outgrowing its memory.
 */
export class EngineBudget {
  private constructor(
    private readonly conn: DuckDBConnection,
    private readonly budgetBytes: number,
    private readonly ceilingBytes: number,
    private readonly original: string,
  ) {}

  /** Reads the engine's limit, to fit under and to restore. */
  static async of(conn: DuckDBConnection, budgetMb: number): Promise<EngineBudget> {
    const original = String((await conn.runAndReadAll("SELECT current_setting('memory_limit') AS l")).getRowsJS()[0]?.[0] ?? '');
    const ceiling = parseMemorySetting(original) ?? budgetMb * MB;
    return new EngineBudget(conn, budgetMb * MB, ceiling, original);
  }

  /** Sets DuckDB's limit to what the budget leaves now. */
  async fit(): Promise<void> {
    const held = Number((await this.conn.runAndReadAll('SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT FROM duckdb_memory()')).getRowsJS()[0]?.[0] ?? 0);
    const others = Math.max(0, process.memoryUsage.rss() - held);
    const limit = Math.min(this.ceilingBytes, Math.max(ENGINE_FLOOR_MB * MB, this.budgetBytes - others - ENGINE_OVERHEAD_MB * MB));
    await this.conn.run(`SET memory_limit = '${Math.floor(limit / MB)}MiB'`);
  }

  /** Gives the engine back the limit it had. */
  async restore(): Promise<void> {
    if (this.original !== '') await this.conn.run(`SET memory_limit = '${this.original.replace(/'/g, '')}'`);
  }
}
