import { DuckDBInstance } from '@duckdb/node-api';

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
