/**
 * A one-day query's time against the days kept: the hourly average of one
 * day of a 500-sensor fleet, with 1 day and with 7 days of curated files
 * kept, laid out as the platform writes them (one file per raw object per
 * event date), through the local query engine as `datastroom query` runs it
 * (open, define the views the query names, answer). DESIGN.md's target: at
 * most 1.5x with 7 days kept.
 *
 * BENCH_QUERY_FILES sets the files per day (default 1,440: Firehose's one
 * object a minute; the local default of a seal every 5 s writes 17,280).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { getDataset } from '../datasets/index.ts';
import { LocalQueryEngine } from '../local/query.ts';

const SENSORS = 500;

/** Writes `days` days of curated air-quality files, `files` per day, each a minute of the fleet's readings. */
async function layOut(root: string, days: number, files: number): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const perFile = Math.max(1, Math.round((SENSORS * 1440) / files));
  for (let d = 0; d < days; d++) {
    const dt = new Date(Date.UTC(2026, 10, 29 - d)).toISOString().slice(0, 10);
    const dir = join(root, 'curated', 'air_quality', `dt=${dt}`);
    await mkdir(dir, { recursive: true });
    await conn.run(`CREATE OR REPLACE TABLE day AS SELECT 'aq-' || (i % ${SENSORS}) AS sensor_id, TIMESTAMP '${dt} 00:00:00' + INTERVAL (i * 86400 // ${SENSORS * 1440}) SECOND AS ts,
      md5(i::VARCHAR || '${dt}') AS message_id, random() * 30 AS pm25, random() * 40 AS pm10, random() * 50 AS no2, i // ${perFile} AS part FROM range(${SENSORS * 1440}) t(i)`);
    await conn.run(`COPY (SELECT sensor_id, ts AS received_at, message_id, ts, pm25, pm10, no2, part FROM day) TO '${dir}' (FORMAT parquet, PARTITION_BY (part), OVERWRITE_OR_IGNORE, FILENAME_PATTERN 'obj_{i}')`);
  }
  conn.closeSync();
  instance.closeSync();
  // PARTITION_BY writes part=N/ folders; the platform's layout is flat files under dt=.
  const { readdir, rename, rmdir } = await import('node:fs/promises');
  for (const dt of await readdir(join(root, 'curated', 'air_quality'))) {
    const dir = join(root, 'curated', 'air_quality', dt);
    for (const part of await readdir(dir)) {
      for (const file of await readdir(join(dir, part))) await rename(join(dir, part, file), join(dir, `${part.replace('=', '')}-${file}`));
      await rmdir(join(dir, part));
    }
  }
}

async function timeQuery(root: string): Promise<number> {
  const started = performance.now();
  const engine = await LocalQueryEngine.open(root, [getDataset('air_quality')]);
  try {
    await engine.query("SELECT hour, avg(pm25_avg) FROM air_quality_hourly WHERE dt = DATE '2026-11-29' GROUP BY 1");
  } finally {
    engine.close();
  }
  return performance.now() - started;
}

/** The one-day query's median time with 1 and 7 days kept, and their ratio. */
export async function measureQueryDays(files = Number(process.env.BENCH_QUERY_FILES ?? 1440), runs = Number(process.env.BENCH_RUNS ?? 3)) {
  const base = await mkdtemp(join(tmpdir(), 'datastroom-days-'));
  try {
    const result: Record<string, number> = {};
    for (const days of [1, 7]) {
      const root = join(base, `d${days}`);
      await layOut(root, days, files);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await timeQuery(root));
      result[`days${days}`] = [...times].sort((a, b) => a - b)[Math.floor(runs / 2)] ?? Number.NaN;
    }
    const one = result.days1 ?? Number.NaN;
    const seven = result.days7 ?? Number.NaN;
    return { filesPerDay: files, oneDayKeptMs: Math.round(one), sevenDaysKeptMs: Math.round(seven), ratio: Math.round((seven / one) * 100) / 100 };
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

/** The measurement as lines. */
export function queryDaysLines(m: Awaited<ReturnType<typeof measureQueryDays>>): string[] {
  return [
    `one-day hourly query, ${m.filesPerDay} files a day: 1 day kept ${m.oneDayKeptMs} ms, 7 days kept ${m.sevenDaysKeptMs} ms: ${m.ratio.toFixed(2)}x (target <= 1.5x)`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const measured = await measureQueryDays();
  process.stdout.write(`${queryDaysLines(measured).join('\n')}\n${JSON.stringify({ queryDays: measured })}\n`);
}
