/**
 * The lake benchmark: query times of a 500-sensor air-quality fleet at one
 * reading a minute, kept for 1 and 7 days, laid out three ways, through the
 * local query engine (open, query, close, as `datastroom query` does):
 *
 *   fragmented  as the transform writes it: one file per raw object and
 *               event date, a raw buffer sealed every 5 s (17,280 files a day)
 *   compacted   the same files after `datastroom compact --all`
 *   daily       the same rows as one file per day, written straight by DuckDB
 *
 * and the de-duplication cost of one raw object (5 s of the fleet) with the
 * claims of 7 days of history against none.
 *
 * BENCH_LAKE_SCALE (default 1) scales sensors and files a day down for a
 * quick look; BENCH_LAKE_RUNS (default 3) is the runs per measure (the
 * fragmented 7-day layout is measured once: it is the slow one).
 */
import { link, mkdir, mkdtemp, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { getDataset, NATIVE_FORMAT } from '../datasets/index.ts';
import { curatedColumns, quoteIdent, quoteString } from '../functions/core/columns.ts';
import { createTransformEngine } from '../functions/core/engine.ts';
import { claimsTableSql, pruneClaimsSql, transformRawObject } from '../functions/core/transform.ts';
import { messageIdFor, rawLine, topicFor } from '../functions/core/envelope.ts';
import { LocalCompactor } from '../local/compaction.ts';
import { MEASURED_COMPACTION_FILE, MeasuredCompaction } from '../cost/measured.ts';
import { dataDirLayout, ensureDataDir } from '../local/data-dir.ts';
import { CLAIM_WINDOW_MINUTES } from '../local/pipeline.ts';
import { LocalQueryEngine } from '../local/query.ts';

const SCALE = Number(process.env.BENCH_LAKE_SCALE ?? 1);
const RUNS = Number(process.env.BENCH_LAKE_RUNS ?? 3);
const SENSORS = Math.max(10, Math.round(500 * SCALE));
const FILES_PER_DAY = Math.max(24, Math.round(17_280 * SCALE));
const DAYS = 7;
const air = getDataset('air_quality');
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Query times in seconds per layout and measure. */
export interface LakeResult {
  readonly sensors: number;
  readonly filesPerDay: number;
  readonly rowsPerDay: number;
  readonly seconds: Record<string, Record<string, number>>;
  readonly compactionSeconds: number;
  readonly dedup: { readonly noneMs: number; readonly sevenDaysMs: number; readonly sevenDaysWholeMs: number; readonly windowMinutes: number; readonly claims: number };
}

/** The three queries of the issue, on the last day kept. */
function queries(lastDay: string): Record<string, string> {
  return {
    'count(*)': 'SELECT count(*) FROM air_quality',
    'hourly average, one day': `SELECT date_trunc('hour', ts) AS hour, avg(pm25) FROM air_quality WHERE dt = '${lastDay}' GROUP BY 1 ORDER BY 1`,
    '7-day daily average per sensor': 'SELECT sensor_id, dt, avg(pm25) FROM air_quality GROUP BY 1, 2',
  };
}

async function timeQuery(root: string, sql: string, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const engine = await LocalQueryEngine.open(root, [air]);
    try {
      await engine.query(sql);
    } finally {
      engine.close();
    }
    times.push((performance.now() - started) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/** Generates 7 days of the fleet as the transform lays it out: one file per sealed raw buffer and event date. */
async function generateFragmented(root: string, firstDay: string): Promise<void> {
  await mkdir(root, { recursive: true });
  const duckdb = await createTransformEngine({ memoryLimitMb: 2048, tempDirectory: join(root, 'spill') });
  const conn = await duckdb.connect();
  const windowS = 86_400 / FILES_PER_DAY;
  const columns = curatedColumns(air).map((c) => quoteIdent(c.name)).join(', ');
  await conn.run(
    `CREATE TABLE g AS
     SELECT *, CAST(ts AS DATE) AS dt, CAST(floor(epoch(received_at) / ${windowS}) AS BIGINT) AS file_no FROM (
       SELECT 'aq-' || lpad(CAST(s AS VARCHAR), 3, '0') AS sensor_id,
         t + INTERVAL 1500 MILLISECOND AS received_at,
         md5('aq-' || s::VARCHAR || t::VARCHAR) AS message_id,
         ${quoteString(NATIVE_FORMAT)} AS format,
         t AS ts,
         ((s * 31 + m * 17) % 500) / 10.0 AS pm25, ((s * 31 + m * 17) % 800) / 10.0 AS pm10, ((s * 13 + m) % 600) / 10.0 AS no2
       FROM (SELECT s, m, TIMESTAMP '${firstDay}' + to_seconds(m * 60 + (s * 7) % 60) AS t
             FROM range(${SENSORS}) a(s), range(${DAYS * 1440}) b(m)))`,
  );
  const out = join(root, 'gen');
  // A thousand windows per statement: the partitioned writer keeps a buffer per open file.
  await conn.run('SET threads = 1; SET partitioned_write_max_open_files = 2000');
  const [first, last] = (await conn.runAndReadAll('SELECT min(file_no), max(file_no) FROM g')).getRowsJS()[0] as [bigint, bigint];
  for (let from = Number(first); from <= Number(last); from += 1000) {
    await conn.run(
      `COPY (SELECT ${columns}, dt, file_no FROM g WHERE file_no >= ${from} AND file_no < ${from + 1000} ORDER BY dt, file_no) TO ${quoteString(out)}
       (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt, file_no), APPEND)`,
    );
  }
  conn.closeSync();
  duckdb.closeSync();
  const curated = join(root, 'curated', air.id);
  for (const day of await readdir(out)) {
    await mkdir(join(curated, day), { recursive: true });
    const windows = await readdir(join(out, day));
    await Promise.all(
      windows.map(async (w) => {
        const n = w.slice('file_no='.length);
        const files = await readdir(join(out, day, w));
        for (const [i, f] of files.entries()) await rename(join(out, day, w, f), join(curated, day, `air_quality-w${n}-${i}.parquet`));
        await rmdir(join(out, day, w));
      }),
    );
  }
  await rm(out, { recursive: true, force: true });
}

/** Hard links of `days` of a data dir's partitions into another data dir. */
async function linkDays(from: string, to: string, days: readonly string[]): Promise<void> {
  for (const day of days) {
    const dir = join('curated', air.id, `dt=${day}`);
    await mkdir(join(to, dir), { recursive: true });
    for (const f of await readdir(join(from, dir))) await link(join(from, dir, f), join(to, dir, f));
  }
}

/** One file per day of the same rows, as DuckDB writes it. */
async function writeDaily(from: string, to: string, days: readonly string[]): Promise<void> {
  const duckdb = await createTransformEngine({ memoryLimitMb: 2048, tempDirectory: join(to, 'spill') });
  const conn = await duckdb.connect();
  for (const day of days) {
    const dir = join(to, 'curated', air.id, `dt=${day}`);
    await mkdir(dir, { recursive: true });
    await conn.run(`COPY (SELECT * FROM read_parquet(${quoteString(join(from, 'curated', air.id, `dt=${day}`, '*.parquet'))})) TO ${quoteString(join(dir, 'day.parquet'))} (FORMAT parquet, COMPRESSION snappy)`);
  }
  conn.closeSync();
  duckdb.closeSync();
}

/** A raw object of 5 s of the fleet: one reading from a twelfth of the sensors. */
async function rawObject(dir: string, n: number): Promise<string> {
  const at = new Date(Date.UTC(2026, 10, 28, 12, 0, n * 5));
  const lines: string[] = [];
  for (let s = n % 12; s < SENSORS; s += 12) {
    const sensor = `aq-${String(s).padStart(3, '0')}`;
    const payload = Buffer.from(JSON.stringify({ ts: at.toISOString(), pm25: 10 + (s % 7), pm10: 20, no2: 30 }));
    lines.push(rawLine(sensor, messageIdFor(topicFor(air.id, sensor), payload), new Date(at.getTime() + 1500), payload));
  }
  const file = join(dir, `raw-${n}.jsonl`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

/** Milliseconds per raw object of the transform with a claims table (median of OBJECTS). */
async function dedupCost(root: string, history: 'none' | 'window' | 'whole'): Promise<{ ms: number; claims: number }> {
  const dir = await mkdtemp(join(root, `dedup-${history}-`));
  const duckdb = await createTransformEngine({ path: join(dir, 'platform.duckdb'), tempDirectory: join(dir, 'spill') });
  const conn = await duckdb.connect();
  await conn.run(claimsTableSql('claims'));
  if (history !== 'none') {
    // Seven days of the fleet's ids, claimed as they arrived, 42 to a raw object.
    const rows = DAYS * 1440 * SENSORS;
    await conn.run(
      `INSERT INTO claims SELECT 'air_quality', md5('h' || i::VARCHAR), 'obj-' || (i // 42)::VARCHAR,
         now()::TIMESTAMP - to_microseconds(CAST(i * (${DAYS} * 86400e6 / ${rows}) AS BIGINT)) FROM range(${rows}) t(i)`,
    );
    // What the pipeline does every minute.
    if (history === 'window') await conn.run(pruneClaimsSql('claims', CLAIM_WINDOW_MINUTES));
    await conn.run('CHECKPOINT');
  }
  const claims = Number((await conn.runAndReadAll('SELECT count(*)::BIGINT FROM claims')).getRowsJS()[0]?.[0] ?? 0);
  conn.closeSync();
  const times: number[] = [];
  const objects = 40;
  for (let n = 0; n < objects; n++) {
    const rawFile = await rawObject(dir, n);
    const workDir = await mkdtemp(join(dir, 'work-'));
    const started = performance.now();
    await transformRawObject(
      { dataset: air, rawKey: `raw/air_quality/dt=2026-11-28/air_quality-bench-${n}.jsonl`, rawFile, workDir },
      { duckdb, pseudonymKey: Buffer.alloc(32, 1), claimsTable: 'claims' },
    );
    // The first few warm the engine up.
    if (n >= 5) times.push(performance.now() - started);
    await rm(workDir, { recursive: true, force: true });
  }
  duckdb.closeSync();
  await rm(dir, { recursive: true, force: true });
  return { ms: times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!, claims };
}

/** Runs the lake benchmark in a temporary directory. */
export async function measureLake(): Promise<LakeResult> {
  const root = await mkdtemp(join(tmpdir(), 'datastroom-lake-'));
  try {
    const firstDay = '2026-11-01';
    const days = Array.from({ length: DAYS }, (_, i) => new Date(Date.parse(`${firstDay}T00:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10));
    const lastDay = days.at(-1)!;
    const dirs = Object.fromEntries(['fragmented7', 'fragmented1', 'compacted7', 'compacted1', 'daily7', 'daily1'].map((k) => [k, join(root, k)]));
    log(`lake: generating ${DAYS} days of ${SENSORS} sensors at one reading a minute, ${FILES_PER_DAY} files a day...`);
    await generateFragmented(dirs.fragmented7!, firstDay);
    // The last day's partition also holds the first seconds of the next day's arrivals: the 1-day layouts keep only it.
    await linkDays(dirs.fragmented7!, dirs.fragmented1!, [lastDay]);
    await linkDays(dirs.fragmented7!, dirs.compacted7!, days);
    log('lake: compacting (datastroom compact --all)...');
    const layout = dataDirLayout(dirs.compacted7!);
    await ensureDataDir(layout);
    const started = performance.now();
    const compactor = new LocalCompactor({ layout, datasets: [air] });
    await compactor.run({ all: true });
    await compactor.stop();
    const compactionSeconds = (performance.now() - started) / 1000;
    // The figure datastroom cost prices the compaction function by, with where and when it was measured.
    const measured: MeasuredCompaction = {
      measuredAt: new Date().toISOString().slice(0, 10),
      machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      readings: SENSORS * 1440 * DAYS,
      files: FILES_PER_DAY * DAYS,
      seconds: Math.round(compactionSeconds * 100) / 100,
    };
    await writeFile(MEASURED_COMPACTION_FILE, `${JSON.stringify(MeasuredCompaction.parse(measured), null, 2)}\n`);
    await linkDays(dirs.compacted7!, dirs.compacted1!, [lastDay]);
    await writeDaily(dirs.fragmented7!, dirs.daily7!, days);
    await linkDays(dirs.daily7!, dirs.daily1!, [lastDay]);

    const seconds: Record<string, Record<string, number>> = {};
    for (const [name, sql] of Object.entries(queries(lastDay))) {
      seconds[name] = {};
      for (const [layoutName, dir] of Object.entries(dirs)) {
        log(`lake: ${name} on ${layoutName}...`);
        seconds[name][layoutName] = await timeQuery(dir, sql, layoutName === 'fragmented7' ? 1 : RUNS);
      }
    }
    log('lake: de-duplication per raw object, with no history, seven days pruned to the window, and seven days whole...');
    const none = await dedupCost(root, 'none');
    const window = await dedupCost(root, 'window');
    const whole = await dedupCost(root, 'whole');
    return {
      sensors: SENSORS,
      filesPerDay: FILES_PER_DAY,
      rowsPerDay: SENSORS * 1440,
      seconds,
      compactionSeconds,
      dedup: { noneMs: none.ms, sevenDaysMs: window.ms, sevenDaysWholeMs: whole.ms, windowMinutes: CLAIM_WINDOW_MINUTES, claims: window.claims },
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

/** The table rows of a lake result: measure, value, reference, ratio. */
export function lakeRows(r: LakeResult): [string, string, string, string][] {
  const rows: [string, string, string, string][] = [];
  for (const [name, s] of Object.entries(r.seconds)) {
    const t = (k: string) => `${s[k]!.toFixed(2)} s`;
    rows.push([`${name}, 7 days compacted`, t('compacted7'), `one file a day ${t('daily7')}`, `${ratio(s.compacted7!, s.daily7!)} (target <= 1.5)`]);
    rows.push([`${name}, 7 days fragmented`, t('fragmented7'), `one file a day ${t('daily7')}`, String(ratio(s.fragmented7!, s.daily7!))]);
    rows.push([`${name}, 1 day compacted`, t('compacted1'), `one file ${t('daily1')}`, String(ratio(s.compacted1!, s.daily1!))]);
    rows.push([`${name}, 1 day fragmented`, t('fragmented1'), `one file ${t('daily1')}`, String(ratio(s.fragmented1!, s.daily1!))]);
  }
  const day = r.seconds['hourly average, one day']!;
  rows.push(['one-day query, 7 days kept vs 1, compacted', `${day.compacted7!.toFixed(2)} s`, `${day.compacted1!.toFixed(2)} s`, `${ratio(day.compacted7!, day.compacted1!)} (target <= 1.5)`]);
  rows.push(['one-day query, 7 days kept vs 1, fragmented', `${day.fragmented7!.toFixed(2)} s`, `${day.fragmented1!.toFixed(2)} s`, String(ratio(day.fragmented7!, day.fragmented1!))]);
  rows.push(['compaction of the 7 days', `${r.compactionSeconds.toFixed(1)} s`, `${r.filesPerDay * 7} files`, '']);
  rows.push([
    `dedup ms/object, 7 days (claims of ${r.dedup.windowMinutes} min: ${r.dedup.claims})`,
    r.dedup.sevenDaysMs.toFixed(1),
    `no history ${r.dedup.noneMs.toFixed(1)}`,
    `${ratio(r.dedup.sevenDaysMs, r.dedup.noneMs)} (target <= 1.5)`,
  ]);
  rows.push(['dedup ms/object, 7 days kept whole (before)', r.dedup.sevenDaysWholeMs.toFixed(1), `no history ${r.dedup.noneMs.toFixed(1)}`, String(ratio(r.dedup.sevenDaysWholeMs, r.dedup.noneMs))]);
  return rows;
}
