/**
 * Sensors' places: what `sensors register --lat --lon` accepts and refuses,
 * the IoT attribute form, and the sensors table and <dataset>_sensors view
 * as the locked-down local query reads them.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDataset, registry } from '../../datasets/index.ts';
import { decodeAttribute, encodeAttribute, PlaceError, placeAttributes, placeFromInput } from '../../functions/core/places.ts';
import { demoPlace } from '../../local/city.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { readLocalPlaces, removeLocalPlace, writeLocalPlace } from '../../local/places.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { tempDir } from '../helpers/fixtures.ts';

const at = new Date('2026-11-29T09:00:00Z');

describe('a place given on the command line', () => {
  it('takes decimal degrees, a name and an address', () => {
    expect(placeFromInput('air_quality', 'aq-1', { latitude: '51.0543', longitude: '+3.7174', name: ' Korenmarkt ', address: 'Korenmarkt 1, 9000 Gent' }, at)).toEqual({
      sensor_id: 'aq-1',
      dataset: 'air_quality',
      latitude: 51.0543,
      longitude: 3.7174,
      name: 'Korenmarkt',
      address: 'Korenmarkt 1, 9000 Gent',
      registered_at: '2026-11-29T09:00:00.000Z',
    });
    expect(placeFromInput('air_quality', 'aq-1', {}, at)).toBeUndefined();
  });

  it.each([
    [{ latitude: '51,05', longitude: '3.7' }, /latitude must be decimal degrees .* got "51,05"/],
    [{ latitude: '91', longitude: '3.7' }, /latitude must be decimal degrees from -90 to 90/],
    [{ latitude: '51.05', longitude: '181' }, /longitude must be decimal degrees from -180 to 180/],
    [{ latitude: '51.05' }, /give both --lat and --lon/],
    [{ name: 'Korenmarkt' }, /a place name or address needs --lat and --lon/],
    [{ latitude: '51', longitude: '3', address: 'x'.repeat(201) }, /address must be 1 to 200 characters/],
  ])('refuses %j with a reason', (input, message) => {
    expect(() => placeFromInput('air_quality', 'aq-1', input, at)).toThrow(PlaceError);
    expect(() => placeFromInput('air_quality', 'aq-1', input, at)).toThrow(message);
  });

  it('goes into IoT thing attributes in the characters IoT Core allows, and back', () => {
    const place = placeFromInput('noise', 'nz-1', { latitude: '51.0572', longitude: '3.7254', name: 'Vrijdagmarkt', address: 'Sint-Jacobsnieuwstraat 2, 9000 Gent é#' }, at)!;
    const attributes = placeAttributes(place);
    expect(attributes).toEqual({ latitude: '51.0572', longitude: '3.7254', place_name: 'Vrijdagmarkt', address: 'Sint-Jacobsnieuwstraat#202,#209000#20Gent#20#C3#A9#23' });
    for (const value of Object.values(attributes)) expect(value).toMatch(/^[a-zA-Z0-9_.,@/:#=[\]-]*$/);
    expect(decodeAttribute(encodeAttribute(place.address!))).toBe(place.address);
  });
});

describe('the demo fleet', () => {
  it('stands in Gent, each sensor at its own place, the same whatever the run', () => {
    const places = registry.flatMap((d) => Array.from({ length: 72 }, (_, i) => demoPlace(d, `${d.id}-${i + 1}`, i + 1, at)));
    for (const p of places) {
      expect(p.latitude).toBeGreaterThan(50.99);
      expect(p.latitude).toBeLessThan(51.11);
      expect(p.longitude).toBeGreaterThan(3.63);
      expect(p.longitude).toBeLessThan(3.82);
    }
    expect(new Set(places.map((p) => `${p.latitude},${p.longitude}`)).size).toBe(places.length);
    expect(demoPlace(getDataset('parking_occupancy'), 'p-1', 1, at)).toMatchObject({ name: 'Parking Vrijdagmarkt' });
  });
});

describe('the sensors table and view, locally', () => {
  let dataDir: string;
  let engine: LocalQueryEngine;
  beforeAll(async () => {
    dataDir = await tempDir('datastroom-places-', 'file');
    const layout = dataDirLayout(dataDir);
    await writeLocalPlace(layout, placeFromInput('air_quality', 'aq-1', { latitude: '51.0547', longitude: '3.7216', name: 'Korenmarkt' }, at)!);
    await writeLocalPlace(layout, placeFromInput('air_quality', 'aq-2', { latitude: '51.0429', longitude: '3.7265' }, at)!);
    await writeLocalPlace(layout, placeFromInput('noise', 'nz-1', { latitude: '51.0572', longitude: '3.7254' }, at)!);
    await writeLocalPlace(layout, placeFromInput('air_quality', 'gone', { latitude: '51', longitude: '3' }, at)!);
    expect(await removeLocalPlace(layout, 'air_quality', 'gone')).toBe(true);
    expect(await removeLocalPlace(layout, 'air_quality', 'gone')).toBe(false);
    const dir = join(dataDir, 'curated', 'air_quality', 'dt=2026-11-29');
    await mkdir(dir, { recursive: true });
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    const row = (sensor: string, ts: string) =>
      `SELECT '${sensor}' AS sensor_id, TIMESTAMP '${ts}' AS received_at, md5('${sensor}${ts}') AS message_id, TIMESTAMP '${ts}' AS ts, 5.0 AS pm25, 9.0 AS pm10, 20.0 AS no2`;
    // aq-3 has no place: the view keeps its readings, without a place.
    const rows = [row('aq-1', '2026-11-29 08:00:00'), row('aq-1', '2026-11-29 08:10:00'), row('aq-2', '2026-11-29 08:05:00'), row('aq-3', '2026-11-29 08:06:00')];
    await conn.run(`COPY (${rows.join(' UNION ALL ')}) TO '${join(dir, 'a.parquet')}' (FORMAT parquet)`);
    conn.closeSync();
    instance.closeSync();
    engine = await LocalQueryEngine.open(dataDir);
  }, 60_000);
  afterAll(() => engine?.close());

  it('lists every place, with its dataset from where it is stored', async () => {
    expect((await readLocalPlaces(dataDirLayout(dataDir))).map((p) => p.sensor_id)).toEqual(['aq-1', 'aq-2', 'nz-1']);
    const { columns, rows } = await engine.query('SELECT * FROM sensors ORDER BY dataset, sensor_id');
    expect(columns).toEqual(['sensor_id', 'latitude', 'longitude', 'name', 'address', 'registered_at', 'dataset']);
    expect(rows.map((r) => [r[0], r[1], r[3], r[6]])).toEqual([
      ['aq-1', 51.0547, 'Korenmarkt', 'air_quality'],
      ['aq-2', 51.0429, null, 'air_quality'],
      ['nz-1', 51.0572, null, 'noise'],
    ]);
  });

  it('joins each sensor’s readings of a day to its place', async () => {
    const { rows } = await engine.query('SELECT dt, sensor_id, name, latitude, readings, last_reading FROM air_quality_sensors WHERE dt = ? ORDER BY sensor_id', [
      { kind: 'date', value: '2026-11-29' },
    ]);
    expect(rows).toEqual([
      ['2026-11-29', 'aq-1', 'Korenmarkt', 51.0547, 2, '2026-11-29T08:10:00Z'],
      ['2026-11-29', 'aq-2', null, 51.0429, 1, '2026-11-29T08:05:00Z'],
      ['2026-11-29', 'aq-3', null, null, 1, '2026-11-29T08:06:00Z'],
    ]);
  });
});
