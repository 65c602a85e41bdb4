import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Dataset } from '../../datasets/index.ts';
import { claimsTableSql, transformRawObject, type QuarantineRecord, type TransformResult } from '../../functions/core/transform.ts';
import type { TransformPolicy } from '../../functions/core/reading.ts';
import { quoteString } from '../../functions/core/columns.ts';
import { TEST_KEY, tempDir, writeRawObject } from './fixtures.ts';

/** A transform run with its outputs read back. */
export interface TransformRun {
  readonly result: TransformResult;
  /** Curated rows per key, in file order, as DuckDB reads them back. */
  readonly curated: Map<string, Record<string, unknown>[]>;
  readonly quarantine: QuarantineRecord[];
  /** Every output file's bytes, by key. */
  readonly bytes: Map<string, Buffer>;
}

/** Runs the real transform on raw lines in a shared DuckDB instance. */
export class TransformHarness {
  private constructor(
    readonly duckdb: DuckDBInstance,
    readonly claimsTable: string | undefined,
  ) {}

  static async create(options: { claims?: boolean } = {}): Promise<TransformHarness> {
    const duckdb = await DuckDBInstance.create(':memory:');
    if (options.claims) {
      const conn = await duckdb.connect();
      await conn.run(claimsTableSql('claims'));
      conn.closeSync();
    }
    return new TransformHarness(duckdb, options.claims ? 'claims' : undefined);
  }

  async run(
    dataset: Dataset,
    lines: readonly string[],
    options: { name?: string; policy?: TransformPolicy; rawFile?: string } = {},
  ): Promise<TransformRun> {
    const dir = await tempDir();
    const rawFile = options.rawFile ?? (await writeRawObject(dir, lines));
    const workDir = join(dir, 'work');
    await mkdir(workDir);
    const name = options.name ?? `${dataset.id}-20261129T100000000Z-0000abcd`;
    const result = await transformRawObject(
      { dataset, rawKey: `raw/${dataset.id}/dt=2026-11-29/${name}.jsonl`, rawFile, workDir },
      { duckdb: this.duckdb, pseudonymKey: TEST_KEY, policy: options.policy, claimsTable: this.claimsTable },
    );
    const curated = new Map<string, Record<string, unknown>[]>();
    const bytes = new Map<string, Buffer>();
    const quarantine: QuarantineRecord[] = [];
    const conn = await this.duckdb.connect();
    for (const output of result.outputs) {
      bytes.set(output.key, await readFile(output.file));
      if (output.zone === 'curated') {
        const reader = await conn.runAndReadAll(`SELECT * FROM read_parquet(${quoteString(output.file)}, hive_partitioning = false)`);
        curated.set(output.key, reader.getRowObjectsJson() as Record<string, unknown>[]);
      } else {
        // Quarantine objects are gzip JSON lines.
        const text = gunzipSync(await readFile(output.file)).toString('utf8');
        quarantine.push(...text.trim().split('\n').map((l) => JSON.parse(l) as QuarantineRecord));
      }
    }
    conn.closeSync();
    return { result, curated, quarantine, bytes };
  }

  close(): void {
    this.duckdb.closeSync();
  }
}

/** Every curated row of a run, over all its partitions. */
export function allRows(run: TransformRun): Record<string, unknown>[] {
  return [...run.curated.values()].flat();
}
