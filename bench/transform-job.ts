/**
 * One measured job of the transform benchmark, run in its own process so
 * that its peak resident memory is its own: `reference` is DuckDB's own
 * JSON-to-Parquet COPY, `transform` is Datastroom's transform.
 * Prints one JSON line: { rows, seconds, maxRssMb }.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { getDataset } from '../datasets/index.ts';
import { quoteString } from '../functions/core/columns.ts';
import { createTransformEngine } from '../functions/core/engine.ts';
import { transformRawObject } from '../functions/core/transform.ts';

const [mode, rawFile, rawKey] = process.argv.slice(2);
if (!mode || !rawFile || !rawKey) throw new Error('usage: transform-job.ts reference|transform <raw file> <raw key>');

const workDir = await mkdtemp(join(tmpdir(), 'bench-'));
const duckdb = await createTransformEngine({ tempDirectory: join(workDir, 'spill') });
const started = performance.now();
let rows: number;
if (mode === 'reference') {
  const conn = await duckdb.connect();
  const reader = await conn.runAndReadAll(
    `COPY (SELECT * FROM read_json(${quoteString(rawFile)})) TO ${quoteString(join(workDir, 'reference.parquet'))} (FORMAT parquet)`,
  );
  rows = Number(reader.getRowsJS()[0]?.[0] ?? 0);
  conn.closeSync();
} else {
  const result = await transformRawObject(
    { dataset: getDataset('air_quality'), rawKey, rawFile, workDir },
    { duckdb, pseudonymKey: Buffer.alloc(32, 1) },
  );
  rows = result.received;
}
const seconds = (performance.now() - started) / 1000;
duckdb.closeSync();
await rm(workDir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ rows, seconds, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
