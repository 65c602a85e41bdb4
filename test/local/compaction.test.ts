/**
 * Compaction of the local data dir, through the real transform pipeline:
 * raw objects transformed into per-object files, a partition compacted into
 * one file per arrival date and swapped in by renames, duplicates across raw
 * objects removed, replays and late readings kept safe.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { DuckDBInstance } from '@duckdb/node-api';
import { getDataset } from '../../datasets/index.ts';
import { LocalObjectStore } from '../../functions/adapters/local-store.ts';
import { compactionManifestKey, parseManifest } from '../../functions/core/compaction.ts';
import { createTransformEngine } from '../../functions/core/engine.ts';
import { LocalCompactedSources, LocalCompactor } from '../../local/compaction.ts';
import { dataDirLayout, ensureDataDir, type DataDirLayout } from '../../local/data-dir.ts';
import { TransformPipeline } from '../../local/pipeline.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { airReading, arrivalLine, TEST_KEY, tempDir } from '../helpers/fixtures.ts';
import { startDev, until } from '../helpers/dev-process.ts';

const exec = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/datastroom.mjs');
const air = getDataset('air_quality');
const DT = '2026-11-20';
const PARTITION = `curated/air_quality/dt=${DT}`;

/** A raw key of the local ingest's form, arrived on `arrival`. */
const rawKeyOf = (arrival: string, n: number) => `raw/air_quality/dt=${arrival}/air_quality-${arrival.replace(/-/g, '')}T10000${n}000Z-0000000${n}.jsonl`;
const nameOf = (key: string) => key.split('/').at(-1)!.replace('.jsonl', '');

const line = (sensor: string, ts: string, receivedAt: string, pm25 = 12.5) =>
  arrivalLine({ dataset: air.id, sensor, payload: airReading(ts, { pm25 }), receivedAt: new Date(receivedAt) });

/** A data dir with the real pipeline (claims, compacted sources) and a compactor sharing its turn. */
class Lake {
  private constructor(
    readonly root: string,
    readonly layout: DataDirLayout,
    readonly duckdb: DuckDBInstance,
    readonly pipeline: TransformPipeline,
  ) {}

  static async open(): Promise<Lake> {
    const root = await tempDir();
    const layout = dataDirLayout(root);
    await ensureDataDir(layout);
    const duckdb = await createTransformEngine({ path: layout.database });
    const pipeline = new TransformPipeline({
      store: new LocalObjectStore(root),
      duckdb,
      pseudonymKey: TEST_KEY,
      scratch: layout.scratch,
      compacted: new LocalCompactedSources(root),
      onFailure: (f) => {
        throw f.error;
      },
    });
    await pipeline.open();
    const lake = new Lake(root, layout, duckdb, pipeline);
    open.push(lake);
    return lake;
  }

  compactor(exclusive?: <T>(swap: () => Promise<T>) => Promise<T>): LocalCompactor {
    const compactor = new LocalCompactor({ layout: this.layout, datasets: [air], exclusive: exclusive ?? ((swap) => this.pipeline.exclusive(swap)) });
    compactors.push(compactor);
    return compactor;
  }

  async transform(key: string, lines: readonly string[]): Promise<void> {
    await mkdir(join(this.root, key, '..'), { recursive: true });
    await writeFile(join(this.root, key), lines.map((l) => `${l}\n`).join(''));
    await this.replay(key);
  }

  async replay(key: string): Promise<void> {
    this.pipeline.enqueue(key);
    await this.pipeline.idle();
  }

  /** Forgets every claim, as the redelivery window passing would. */
  async windowPassed(): Promise<void> {
    const conn = await this.duckdb.connect();
    await conn.run('DELETE FROM claims');
    conn.closeSync();
  }

  async files(): Promise<string[]> {
    return (await readdir(join(this.root, PARTITION))).sort();
  }

  /** Rows as a query sees them through the dataset's view. */
  async rows(): Promise<{ message_id: string; sensor_id: string; received_at: string }[]> {
    const engine = await LocalQueryEngine.open(this.root, [air]);
    try {
      const { rows } = await engine.query(`SELECT message_id, sensor_id, CAST(received_at AS VARCHAR) FROM air_quality WHERE dt = '${DT}' ORDER BY 1, 3`);
      return rows.map(([message_id, sensor_id, received_at]) => ({ message_id: String(message_id), sensor_id: String(sensor_id), received_at: String(received_at) }));
    } finally {
      engine.close();
    }
  }

  async close(): Promise<void> {
    await this.pipeline.close();
    this.duckdb.closeSync();
  }
}

const open: Lake[] = [];
const compactors: LocalCompactor[] = [];
afterEach(async () => {
  for (const c of compactors.splice(0)) await c.stop();
  for (const lake of open.splice(0)) await lake.close();
});

const A = rawKeyOf(DT, 1);
const B = rawKeyOf(DT, 2);
const r1 = line('aq-1', `${DT}T10:00:00Z`, `${DT}T10:00:05Z`);
const r2 = line('aq-2', `${DT}T10:00:00Z`, `${DT}T10:00:06Z`, 8);
// A QoS 1 redelivery of r1, later, in another raw object.
const r1again = line('aq-1', `${DT}T10:00:00Z`, `${DT}T10:00:09Z`);
const r3 = line('aq-3', `${DT}T10:01:00Z`, `${DT}T10:01:05Z`);
const idOf = (rawLine: string) => JSON.parse(rawLine).messageId as string;

describe('compaction of the local lake', () => {
  it('removes within the claims window a redelivery in another raw object at once', async () => {
    const lake = await Lake.open();
    await lake.transform(A, [r1, r2]);
    await lake.transform(B, [r1again, r3]);
    expect((await lake.rows()).map((r) => r.message_id)).toEqual([idOf(r1), idOf(r2), idOf(r3)].sort());
  });

  it('keeps one row of a redelivery in two raw objects (past the claims window), the first arrival, and a replay afterwards adds nothing', async () => {
    const lake = await Lake.open();
    await lake.transform(A, [r1, r2]);
    await lake.windowPassed();
    await lake.transform(B, [r1again, r3]);
    // Before compaction the redelivery is there twice.
    expect((await lake.rows()).filter((r) => r.message_id === idOf(r1))).toHaveLength(2);
    expect(await lake.files()).toEqual([`${nameOf(A)}.parquet`, `${nameOf(B)}.parquet`]);

    const summary = await lake.compactor().run();
    expect(summary.compacted).toEqual([
      expect.objectContaining({ datasetId: air.id, dt: DT, filesBefore: 2, filesAfter: 1, rowsIn: 4, rowsOut: 3, duplicates: 1 }),
    ]);
    expect(await lake.files()).toEqual([`compacted-${DT}.parquet`]);
    const rows = await lake.rows();
    expect(rows.map((r) => r.message_id)).toEqual([idOf(r1), idOf(r2), idOf(r3)].sort());
    expect(rows.find((r) => r.message_id === idOf(r1))?.received_at).toBe(`${DT} 10:00:05+00`);
    const manifest = parseManifest('m', await readFile(join(lake.root, compactionManifestKey(air.id, DT)), 'utf8'));
    expect(manifest.sources).toEqual([nameOf(A), nameOf(B)]);
    expect(manifest.groups).toEqual([{ arrivalDate: DT, rows: 3, files: [`compacted-${DT}.parquet`] }]);

    // Replays of both objects (a crash before they were recorded, an operator): nothing is added.
    await lake.windowPassed();
    await lake.replay(A);
    await lake.replay(B);
    expect(await lake.files()).toEqual([`compacted-${DT}.parquet`]);
    expect(await lake.rows()).toEqual(rows);
    // Nothing left for the next run.
    expect((await lake.compactor().run()).compacted).toEqual([]);
  });

  it('merges a late reading into a group of its own arrival date, leaves the earlier group’s file as it is, and removes a late duplicate', async () => {
    const lake = await Lake.open();
    await lake.transform(A, [r1, r2]);
    await lake.compactor().run();
    const before = await stat(join(lake.root, PARTITION, `compacted-${DT}.parquet`));

    // Two days later: a new reading for the compacted day, and r2 redelivered.
    const late = rawKeyOf('2026-11-22', 3);
    const r4 = line('aq-4', `${DT}T23:00:00Z`, '2026-11-22T08:00:00Z');
    const r2again = line('aq-2', `${DT}T10:00:00Z`, '2026-11-22T08:00:01Z', 8);
    await lake.windowPassed();
    await lake.transform(late, [r4, r2again]);
    expect(await lake.files()).toEqual([`${nameOf(late)}.parquet`, `compacted-${DT}.parquet`]);

    const summary = await lake.compactor().run();
    expect(summary.compacted).toEqual([expect.objectContaining({ filesBefore: 2, filesAfter: 2, rowsIn: 4, rowsOut: 3, duplicates: 1 })]);
    expect(await lake.files()).toEqual([`compacted-${DT}.parquet`, 'compacted-2026-11-22.parquet']);
    const after = await stat(join(lake.root, PARTITION, `compacted-${DT}.parquet`));
    // The same file: its readings' retention still counts from when they arrived.
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect((await lake.rows()).map((r) => r.message_id)).toEqual([idOf(r1), idOf(r2), idOf(r4)].sort());
  });

  it('keeps a per-object file the transform writes while the partition is being compacted', async () => {
    const lake = await Lake.open();
    await lake.transform(A, [r1, r2]);
    await lake.transform(B, [r3]);
    const C = rawKeyOf(DT, 4);
    const r5 = line('aq-5', `${DT}T12:00:00Z`, `${DT}T12:00:05Z`);
    // Between the listing and the swap, the transform writes another object into the partition.
    const compactor = lake.compactor(async (swap) => {
      await lake.transform(C, [r5]);
      return lake.pipeline.exclusive(swap);
    });
    const summary = await compactor.run();
    expect(summary.compacted).toEqual([expect.objectContaining({ filesBefore: 2, rowsOut: 3 })]);
    expect(await lake.files()).toEqual([`${nameOf(C)}.parquet`, `compacted-${DT}.parquet`]);
    expect((await lake.rows()).map((r) => r.message_id)).toEqual([idOf(r1), idOf(r2), idOf(r3), idOf(r5)].sort());
    // The next run merges it.
    await compactor.run();
    expect(await lake.files()).toEqual([`compacted-${DT}.parquet`]);
    expect(await lake.rows()).toHaveLength(4);
  });

  it('finishes a swap a killed process left half done: no row lost, none doubled', async () => {
    const lake = await Lake.open();
    await lake.transform(A, [r1, r2]);
    await lake.transform(B, [r3]);
    const dir = join(lake.root, PARTITION);
    // The process dies right after moving the old partition aside.
    const killed = lake.compactor(async () => {
      await rename(dir, join(lake.root, `curated/air_quality/.dt=${DT}.prev`));
      throw new Error('killed');
    });
    await expect(killed.run()).rejects.toThrow('killed');
    expect((await readdir(join(lake.root, 'curated/air_quality'))).sort()).toEqual([`.dt=${DT}.next`, `.dt=${DT}.prev`]);

    await lake.compactor().run();
    expect((await readdir(join(lake.root, 'curated/air_quality'))).sort()).toEqual(['_compaction', `dt=${DT}`]);
    expect(await lake.files()).toEqual([`compacted-${DT}.parquet`]);
    expect((await lake.rows()).map((r) => r.message_id)).toEqual([idOf(r1), idOf(r2), idOf(r3)].sort());
  });

  it('leaves today’s partition and a freshly written one alone unless --all', async () => {
    const lake = await Lake.open();
    const today = new Date().toISOString().slice(0, 10);
    const key = rawKeyOf(today, 5);
    await mkdir(join(lake.root, key, '..'), { recursive: true });
    await writeFile(join(lake.root, key), `${line('aq-1', new Date().toISOString(), new Date().toISOString())}\n`);
    await lake.replay(key);
    const compactor = lake.compactor();
    expect(await compactor.run()).toEqual({ compacted: [], waiting: { open: 1, settling: 0 }, busy: [] });
    expect((await compactor.run({ all: true })).compacted).toEqual([expect.objectContaining({ dt: today, filesBefore: 1, filesAfter: 1 })]);
  });
});

describe('datastroom compact', () => {
  it('compacts while dev runs on the same data dir, and prints a summary', { timeout: 60_000 }, async () => {
    const lake = await Lake.open();
    await lake.transform(A, [r1, r2]);
    await lake.windowPassed();
    await lake.transform(B, [r1again, r3]);
    await lake.close();
    open.splice(0);
    const dev = await startDev(lake.root);
    try {
      const { stdout, stderr } = await exec(process.execPath, [BIN, 'compact', '--data-dir', lake.root, '--dataset', air.id]);
      expect(stderr).toMatch(new RegExp(`^\\[1/1\\] air_quality dt=${DT}: 2 files\\.\\.\\.\\ncompacted air_quality dt=${DT}: 2 files into 1, 3 rows \\(1 duplicate removed\\) in [\\d.]+ s\\n$`));
      expect(stdout).toBe('compacted 1 partition: 2 files into 1, 3 rows, 1 duplicate removed\n');
      const json = await exec(process.execPath, [BIN, 'compact', '--data-dir', lake.root, '--json']);
      expect(JSON.parse(json.stdout)).toMatchObject({ partitions: 0, busy: [] });
    } finally {
      dev.interrupt();
      await until(() => dev.gone() !== undefined, 'dev to stop');
    }
    expect(await dev.exited).toBe(0);
    expect(await lake.files()).toEqual([`compacted-${DT}.parquet`]);
  });

  it('refuses an unknown dataset, naming the known ones', async () => {
    const root = await tempDir();
    const result = await exec(process.execPath, [BIN, 'compact', '--data-dir', root, '--dataset', 'nope']).catch((e: { code: number; stderr: string }) => e);
    expect(result).toMatchObject({ code: 2, stderr: expect.stringMatching(/^datastroom compact: unknown dataset "nope": one of air_quality, /) });
  });
});

describe('a day of many small files', () => {
  it('compacts within the engine’s default memory, and the transform keeps insertion order afterwards', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const { compactPartition } = await import('../../functions/core/compaction.ts');
    const dir = await tempDir();
    // 1,728 files of 42 readings: a day sealed every 50 s. Kept in insertion order, each file's row group
    // took a block per column and a day ran the 256 MB engine out of memory.
    const writer = await DuckDBInstance.create(':memory:');
    const w = await writer.connect();
    await w.run(
      `COPY (SELECT i // 42 AS f, 'aq-' || (i % 50) AS sensor_id, TIMESTAMP '${DT}' + to_seconds(i) AS received_at, md5(i::VARCHAR) AS message_id,
                    TIMESTAMP '${DT}' + to_seconds(i) AS ts, 10.0 AS pm25, 20.0 AS pm10, 30.0 AS no2 FROM range(1728 * 42) t(i))
       TO '${join(dir, 'files')}' (FORMAT parquet, PARTITION_BY (f))`,
    );
    w.closeSync();
    writer.closeSync();
    const inputs: { name: string; file: string }[] = [];
    for (const part of await readdir(join(dir, 'files'))) {
      for (const file of await readdir(join(dir, 'files', part))) inputs.push({ name: `air_quality-x-${part.slice(2)}.parquet`, file: join(dir, 'files', part, file) });
    }
    expect(inputs).toHaveLength(1728);
    const duckdb = await createTransformEngine({ tempDirectory: join(dir, 'spill') });
    const conn = await duckdb.connect();
    await mkdir(join(dir, 'work'));
    const result = await compactPartition(conn, { dataset: air, dt: DT, inputs, workDir: join(dir, 'work'), now: new Date(`${DT}T23:00:00Z`) });
    expect(result).toMatchObject({ rowsIn: 1728 * 42, rowsOut: 1728 * 42, duplicates: 0 });
    expect(result.written).toHaveLength(1);
    // Compaction's setting does not leak: the transform maps staged rows to lines by insertion order.
    expect((await conn.runAndReadAll("SELECT current_setting('preserve_insertion_order')")).getRowsJS()[0]?.[0]).toBe(true);
    conn.closeSync();
    duckdb.closeSync();
  });
});
