/**
 * The local views as a city reads them: dt a DATE, instants with their
 * zone, the local hour across daylight saving, rounded aggregates, the
 * quarantine view, views defined only when a query names them, and files of
 * an older registry shape still readable.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { airQuality } from '../../datasets/air-quality.ts';
import { defineDataset, eventTime, getDataset } from '../../datasets/index.ts';
import { curatedTable } from '../../glue/tables.ts';
import { TRANSFORM_DEFAULTS } from '../../functions/core/reading.ts';
import { DataDirNotFoundError, LocalQueryEngine, TimeCell } from '../../local/query.ts';
import { seededDataDir } from '../helpers/data-dir.ts';
import { tempDir } from '../helpers/fixtures.ts';

/** Writes a curated Parquet file as the transform does (TIMESTAMP columns in UTC), from a SELECT. */
async function writeCurated(root: string, dataset: string, dt: string, name: string, select: string): Promise<void> {
  const dir = join(root, 'curated', dataset, `dt=${dt}`);
  await mkdir(dir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run(`COPY (${select}) TO '${join(dir, `${name}.parquet`)}' (FORMAT parquet)`);
  conn.closeSync();
  instance.closeSync();
}

const envelope = (sensor: string, ts: string) =>
  `'${sensor}' AS sensor_id, TIMESTAMP '${ts}' AS received_at, md5('${sensor}${ts}') AS message_id, TIMESTAMP '${ts}' AS ts`;

describe('time as the city reads it', () => {
  let dataDir: string;
  let engine: LocalQueryEngine;
  beforeAll(async () => {
    dataDir = await tempDir('datastroom-views-', 'file');
    // 27 October 2024: Brussels leaves summer time at 01:00 UTC (03:00 CEST becomes 02:00 CET).
    const readings = [
      ['2024-10-27 00:30:00', 0.1],
      ['2024-10-27 00:40:00', 0.2],
      ['2024-10-27 00:50:00', 0.3],
      ['2024-10-27 01:30:00', 10],
      ['2024-10-27 02:30:00', 20],
    ] as const;
    const rows = readings.map(([ts, pm25]) => `SELECT ${envelope('aq-1', ts)}, ${pm25}::DOUBLE AS pm25, 20::DOUBLE AS pm10, 30::DOUBLE AS no2`).join(' UNION ALL ');
    await writeCurated(dataDir, 'air_quality', '2024-10-27', 'a', rows);
    engine = await LocalQueryEngine.open(dataDir, [airQuality]);
  }, 60_000);
  afterAll(() => engine?.close());

  it('gives dt as a DATE, so date arithmetic works on it', async () => {
    const { rows } = await engine.query("SELECT typeof(dt), count(*) FROM air_quality WHERE dt > DATE '2024-10-27' - 1 GROUP BY 1");
    expect(rows).toEqual([['DATE', 5]]);
    expect((await engine.query('SELECT count(*) FROM air_quality WHERE dt > current_date - 1')).rows).toEqual([[0]]);
  });

  it('gives ts as an instant in UTC, and AT TIME ZONE the Brussels wall clock', async () => {
    const answer = await engine.stream("SELECT ts, ts AT TIME ZONE 'Europe/Brussels' AS local FROM air_quality ORDER BY ts LIMIT 1");
    expect(answer.columns).toEqual([
      { name: 'ts', kind: 'instant' },
      { name: 'local', kind: 'timestamp' },
    ]);
    const batch = (await answer.batches().next()).value as TimeCell[][];
    const [ts, local] = batch[0] ?? [];
    expect(ts?.iso()).toBe('2024-10-27T00:30:00Z');
    // 00:30 UTC is 02:30 in Brussels, summer time (+02:00): the shift goes forward, not back.
    expect(local?.iso()).toBe('2024-10-27T02:30:00');
  });

  it('gives each UTC hour its local hour in the hourly view, daylight saving included, with averages rounded', async () => {
    const { rows } = await engine.query('SELECT hour, hour_local, readings, pm25_avg FROM air_quality_hourly ORDER BY hour');
    expect(rows).toEqual([
      // Without rounding, the average of 0.1, 0.2 and 0.3 is 0.20000000000000004.
      ['2024-10-27T00:00:00Z', '2024-10-27T02:00:00', 3, 0.2],
      // 01:00 UTC is 02:00 again in Brussels: the hour the clocks go back occurs twice.
      ['2024-10-27T01:00:00Z', '2024-10-27T02:00:00', 1, 10],
      ['2024-10-27T02:00:00Z', '2024-10-27T03:00:00', 1, 20],
    ]);
  });

  it('defines only the views a query names, from the registry’s schema', async () => {
    const fresh = await LocalQueryEngine.open(dataDir);
    try {
      await fresh.query('SELECT count(*) FROM air_quality_hourly');
      expect(fresh.definedViews).toEqual(['air_quality', 'air_quality_hourly']);
      await fresh.query("SELECT count(*) FROM noise WHERE sensor_id = 'water_level'");
      expect([...fresh.definedViews].sort()).toEqual(['air_quality', 'air_quality_hourly', 'noise', 'water_level']);
      // Listing the catalog defines them all.
      const tables = await fresh.query('SHOW TABLES');
      expect(tables.rows.map((r) => r[0])).toContain('anpr_passage_quarantine');
    } finally {
      fresh.close();
    }
  });

  it('reads only the partition a dt filter names', async () => {
    await writeCurated(dataDir, 'air_quality', '2024-10-28', 'b', `SELECT ${envelope('aq-2', '2024-10-28 10:00:00')}, 1::DOUBLE AS pm25, 2::DOUBLE AS pm10, 3::DOUBLE AS no2`);
    const fresh = await LocalQueryEngine.open(dataDir, [airQuality]);
    try {
      const plan = await fresh.query("EXPLAIN ANALYZE SELECT count(*) FROM air_quality WHERE dt = DATE '2024-10-28'");
      expect(String(plan.rows[0]?.[1])).toMatch(/Total Files Read: 1\b/);
      expect((await fresh.query('SELECT count(*) FROM air_quality')).rows).toEqual([[6]]);
    } finally {
      fresh.close();
    }
  });
});

describe('schema evolution', () => {
  it('keeps files of the old shape queryable after an optional field is added and an int field becomes a number', async () => {
    const dataDir = await tempDir();
    const governance = getDataset('parking_occupancy').governance;
    const retention = { rawDays: 30, curatedDays: 365, quarantineDays: 30 };
    const before = defineDataset({
      id: 'bike_parking',
      title: 'Bike parking',
      description: 'Free places in the city bike sheds.',
      nl: { title: 'Fietsenstallingen', description: 'Vrije plaatsen in de fietsenstallingen van de stad.' },
      keywords: ['fiets'],
      reading: z.object({ ts: eventTime(), free_places: z.int().nonnegative() }),
      governance,
      retention,
    });
    const after = defineDataset({
      ...before,
      reading: z.object({ ts: eventTime(), free_places: z.number().nonnegative(), occupancy_pct: z.number().min(0).max(100).optional() }),
    });
    expect(before.fields.map((f) => [f.name, f.kind])).toEqual([['ts', 'timestamp'], ['free_places', 'bigint']]);
    // A file as the transform wrote it under the old registry: free_places INT64, no occupancy_pct.
    await writeCurated(dataDir, 'bike_parking', '2026-11-28', 'old', `SELECT ${envelope('bp-1', '2026-11-28 08:00:00')}, 12::BIGINT AS free_places`);
    // And one under the new registry.
    await writeCurated(dataDir, 'bike_parking', '2026-11-29', 'new', `SELECT ${envelope('bp-1', '2026-11-29 08:00:00')}, 'ngsi-v2-keyvalues' AS format, 7.5::DOUBLE AS free_places, 62.5::DOUBLE AS occupancy_pct`);

    const engine = await LocalQueryEngine.open(dataDir, [after]);
    try {
      const { rows } = await engine.query('SELECT dt, free_places, occupancy_pct, typeof(free_places), format FROM bike_parking ORDER BY dt');
      // The old file predates the format column too: NULL, not the native format it may or may not have been.
      expect(rows).toEqual([
        ['2026-11-28', 12, null, 'DOUBLE', null],
        ['2026-11-29', 7.5, 62.5, 'DOUBLE', 'ngsi-v2-keyvalues'],
      ]);
      // The old day alone, too (no file of the new shape is read).
      expect((await engine.query("SELECT occupancy_pct FROM bike_parking WHERE dt = DATE '2026-11-28'")).rows).toEqual([[null]]);
      const hourly = await engine.query('SELECT free_places_avg, occupancy_pct_avg FROM bike_parking_hourly ORDER BY hour');
      expect(hourly.rows).toEqual([
        [12, null],
        [7.5, 62.5],
      ]);
    } finally {
      engine.close();
    }
    // In Glue the table follows the registry: Athena reads Parquet by name, so the old files give NULL for the new column.
    const columns = curatedTable(after, { rawBucket: 'raw', curatedBucket: 'curated' }, TRANSFORM_DEFAULTS).storageDescriptor.columns;
    expect(columns.filter((c) => ['format', 'free_places', 'occupancy_pct'].includes(c.name)).map((c) => [c.name, c.type])).toEqual([
      ['format', 'string'],
      ['free_places', 'double'],
      ['occupancy_pct', 'double'],
    ]);
  });
});

describe('the quarantine view and a missing data dir', () => {
  it('lists refused readings with their reason, sensor and arrival time', async () => {
    const { dataDir } = await seededDataDir('test');
    const engine = await LocalQueryEngine.open(dataDir);
    try {
      const { rows } = await engine.query('SELECT sensor_id, reason, typeof(received_at), typeof(dt), payload FROM air_quality_quarantine');
      expect(rows).toHaveLength(1);
      expect(rows[0]?.slice(0, 4)).toEqual(['aq-2', 'pm25 must be a number, got string "12,5"', 'TIMESTAMP WITH TIME ZONE', 'DATE']);
      expect(JSON.parse(String(rows[0]?.[4]))).toMatchObject({ pm25: '12,5' });
      expect((await engine.query('SELECT count(*) FROM noise_quarantine')).rows).toEqual([[0]]);
    } finally {
      engine.close();
    }
  });

  it('refuses a data dir that does not exist, or is a file, instead of answering nothing', async () => {
    const dir = await tempDir();
    await expect(LocalQueryEngine.open(join(dir, 'nope'))).rejects.toThrow(DataDirNotFoundError);
    await expect(LocalQueryEngine.open(join(dir, 'nope'))).rejects.toThrow(/no data directory at .*nope \(it does not exist\)/);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'file'), 'x');
    await expect(LocalQueryEngine.open(join(dir, 'file'))).rejects.toThrow(/\(it is a file\)/);
  });
});
