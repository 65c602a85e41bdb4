/**
 * Summaries of curated Parquet files for the dashboard's aggregates: per
 * sensor and ten-minute bucket the sums and counts of each numeric field,
 * and each sensor's latest reading. One small query per file the transform
 * writes, and one at start over the last day's partitions.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Dataset } from '../datasets/index.ts';
import { parquetSchemaSql, quoteIdent, quoteString } from '../functions/core/columns.ts';
import { zonePrefix } from '../functions/core/keys.ts';
import { BUCKET_MINUTES, WINDOW_HOURS, type BucketSummary, type LatestSummary, type ReadingsSummary } from './aggregates.ts';

const numericFields = (dataset: Dataset) => dataset.fields.filter((f) => f.kind === 'double' || f.kind === 'bigint').map((f) => f.name);

const toNumber = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Summarises curated Parquet files of one dataset, readings since `sinceMs` only. */
export async function summariseFiles(conn: DuckDBConnection, dataset: Dataset, files: readonly string[], sinceMs: number): Promise<ReadingsSummary> {
  if (files.length === 0) return { datasetId: dataset.id, buckets: [], latest: [] };
  const fields = numericFields(dataset);
  const source = `read_parquet([${files.map(quoteString).join(', ')}], schema = ${parquetSchemaSql(dataset)})`;
  const bucketMs = BUCKET_MINUTES * 60_000;
  const readings = `SELECT sensor_id, epoch_ms(ts) AS t, epoch_ms(received_at) AS r${fields.map((f) => `, ${quoteIdent(f)}::DOUBLE AS ${quoteIdent(f)}`).join('')} FROM ${source} WHERE epoch_ms(ts) >= ${Math.floor(sinceMs)}`;
  const bucketRows = (
    await conn.runAndReadAll(
      `WITH r AS (${readings}) SELECT sensor_id, (t // ${bucketMs}) * ${bucketMs} AS bucket, count(*) AS n${fields
        .map((f, i) => `, sum(${quoteIdent(f)}) AS s${i}, count(${quoteIdent(f)}) AS c${i}`)
        .join('')} FROM r GROUP BY ALL`,
    )
  ).getRowsJS();
  const buckets: BucketSummary[] = bucketRows.map((row) => {
    const sums: Record<string, number> = {};
    const counts: Record<string, number> = {};
    fields.forEach((f, i) => {
      const count = Number(row[4 + 2 * i] ?? 0);
      if (count > 0) {
        sums[f] = Number(row[3 + 2 * i]);
        counts[f] = count;
      }
    });
    return { sensorId: String(row[0]), bucket: Number(row[1]), readings: Number(row[2]), sums, counts };
  });
  const latestRows = (
    await conn.runAndReadAll(
      `WITH r AS (${readings}) SELECT sensor_id, max(t), arg_max(r, t)${fields.map((f) => `, arg_max(${quoteIdent(f)}, t)`).join('')} FROM r GROUP BY sensor_id`,
    )
  ).getRowsJS();
  const latest: LatestSummary[] = latestRows.map((row) => ({
    sensorId: String(row[0]),
    ts: Number(row[1]),
    receivedAt: Number(row[2]),
    values: Object.fromEntries(fields.map((f, i) => [f, toNumber(row[3 + i])])),
  }));
  return { datasetId: dataset.id, buckets, latest };
}

/** Globs of the curated files of a dataset's partitions that can hold readings of the last day (today and yesterday, UTC), where there are any. */
export async function recentFiles(dataRoot: string, dataset: Dataset, now: number = Date.now()): Promise<string[]> {
  const globs: string[] = [];
  const days = new Set([new Date(now).toISOString().slice(0, 10), new Date(now - WINDOW_HOURS * 3_600_000).toISOString().slice(0, 10)]);
  for (const day of days) {
    const dir = join(dataRoot, zonePrefix('curated', dataset.id), `dt=${day}`);
    if ((await readdir(dir).catch(() => [])).some((name) => name.endsWith('.parquet'))) globs.push(join(dir, '*.parquet'));
  }
  return globs;
}
