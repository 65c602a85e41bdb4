/**
 * Vendor payload formats, end to end: the published examples of each format
 * (test/fixtures/formats/, sources in each SOURCE.md) go through the real
 * embedded broker and the real transform, and end curated field by field or
 * quarantined with a reason naming the path. The examples are years old, so
 * the platform runs with a lateness policy that keeps them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDataset } from '../../datasets/index.ts';
import { acceptedFormats } from '../../functions/core/formats.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { startLocalPlatform, type LocalPlatform } from '../../local/runtime.ts';
import { quarantineRecords, tempDir } from '../helpers/fixtures.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/formats');
const text = (file: string) => readFileSync(join(FIXTURES, file), 'utf8');
const json = (file: string) => JSON.parse(text(file)) as Record<string, unknown>;

/** The same entity in the four NGSI shapes, from the normalized example with PM added. */
function fourShapes(): Record<string, Record<string, unknown>> {
  const normalized = json('fiware/AirQualityObserved/variant-normalized-with-pm.json');
  const attrs = ['dateObserved', 'PM25', 'PM10', 'NO2'] as const;
  const unit = (a: Record<string, unknown>) => (a.metadata as { unitCode?: { value: string } } | undefined)?.unitCode?.value;
  const keyValues: Record<string, unknown> = { id: normalized.id, type: normalized.type };
  const ldNormalized: Record<string, unknown> = { id: `urn:ngsi-ld:AirQualityObserved:${String(normalized.id)}`, type: normalized.type };
  const ldConcise: Record<string, unknown> = { ...ldNormalized, '@context': ['https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld'] };
  for (const name of attrs) {
    const a = normalized[name] as Record<string, unknown>;
    // keyValues has no unit metadata: it carries the value in the unit the dataset assumes (µg/m³).
    keyValues[name] = unit(a) === 'GP' ? Number(a.value) * 1000 : a.value;
    ldNormalized[name] = { type: 'Property', value: a.value, ...(unit(a) ? { unitCode: unit(a) } : {}) };
    ldConcise[name] = unit(a) ? { value: a.value, unitCode: unit(a) } : a.value;
  }
  return { 'ngsi-v2-normalized': normalized, 'ngsi-v2-keyvalues': keyValues, 'ngsi-ld-normalized': ldNormalized, 'ngsi-ld-concise': ldConcise };
}

let dataDir: string;
let summary: Awaited<ReturnType<LocalPlatform['stop']>>;
let engine: LocalQueryEngine;
const query = async (sql: string) => (await engine.query(sql)).rows;

beforeAll(async () => {
  dataDir = await tempDir('datastroom-formats-', 'file');
  const platform = await startLocalPlatform({
    dataDir,
    port: 0,
    simulate: false,
    buffering: { maxAgeMs: 200 },
    policy: { futureToleranceSeconds: 86_400, maxLatenessDays: 100_000 },
    log: () => undefined,
  });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'formats-e2e' });
  const publish = (dataset: string, sensor: string, payload: string) => client.publishAsync(`datastroom/${dataset}/${sensor}`, payload, { qos: 1 });
  // Published examples, as they are.
  await publish('air_quality', 'aq-v2kv', text('fiware/AirQualityObserved/example.json'));
  await publish('air_quality', 'aq-v2n', text('fiware/AirQualityObserved/example-normalized.json'));
  await publish('air_quality', 'aq-ldc', text('fiware/AirQualityObserved/example.jsonld'));
  await publish('air_quality', 'aq-ldn', text('fiware/AirQualityObserved/example-normalized-ld.jsonld'));
  await publish('noise', 'nl-v2kv', text('fiware/NoiseLevelObserved/example.json'));
  await publish('noise', 'nl-ldc', text('fiware/NoiseLevelObserved/example-normalized.jsonld'));
  await publish('traffic_count', 'tf-1', text('fiware/TrafficFlowObserved/example.json'));
  await publish('waste_fill', 'wc-1', text('fiware/WasteContainer/example.json'));
  await publish('parking_occupancy', 'porto-23889', text('fiware/OffStreetParking/example.json'));
  await publish('parking_occupancy', 'spot-a13', text('fiware/ParkingSpot/example.json'));
  await publish('water_level', 'var-1', text('fiware/WaterObserved/example.json'));
  await publish('air_quality', 'ttn-dev1', text('ttn-v3/uplink-example.json'));
  await publish('air_quality', 'sc-467', text('sensor-community/api-sds011.json'));
  await publish('air_quality', 'sc-660', text('sensor-community/api-dht22.json'));
  await publish('air_quality', 'sc-push', text('sensor-community/push-sds011.json'));
  // Variants where an example lacks what a dataset needs.
  for (const [format, entity] of Object.entries(fourShapes())) await publish('air_quality', `same-${format}`, JSON.stringify(entity));
  await publish('air_quality', 'ttn-aq', text('ttn-v3/variant-air-quality.json'));
  await publish('noise', 'ttn-bytes', text('ttn-v3/variant-noise-frm-payload.json'));
  await publish('air_quality', 'ttn-bytes', text('ttn-v3/variant-noise-frm-payload.json'));
  // An Orion notification of two entities, in two shapes.
  const notification = { subscriptionId: '57458eb60962ef754e7c0998', data: [json('fiware/NoiseLevelObserved/example.json'), json('fiware/NoiseLevelObserved/example-normalized.jsonld')] };
  await publish('noise', 'orion', JSON.stringify(notification));
  // A message in no format the dataset accepts: The Things Stack's join-accept, not an uplink.
  const joinAccept = { end_device_ids: { device_id: 'dev1', application_ids: { application_id: 'app1' } }, received_at: '2020-02-17T07:49:09.935284891Z', join_accept: { session_key_id: 'AXBSH1Pk6Z0G166RlH16CQ==' } };
  await publish('air_quality', 'ttn-join', JSON.stringify(joinAccept));
  await client.endAsync();
  summary = await platform.stop();
  engine = await LocalQueryEngine.open(dataDir);
}, 120_000);

afterAll(() => engine?.close());

describe('vendor formats through the real broker', () => {
  it('accounts for every reading: received = curated + quarantined, per dataset', () => {
    expect(summary.datasets.air_quality).toEqual({ received: 15, duplicates: 0, curated: 7, quarantined: 8 });
    expect(summary.datasets.noise).toEqual({ received: 5, duplicates: 0, curated: 5, quarantined: 0 });
    expect(summary.datasets.traffic_count).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });
    expect(summary.datasets.waste_fill).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });
    expect(summary.datasets.parking_occupancy).toEqual({ received: 2, duplicates: 0, curated: 2, quarantined: 0 });
    expect(summary.datasets.water_level).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });
  });

  it('gives the same row for one entity in the four NGSI shapes, mg/m³ (GP) converted to µg/m³', async () => {
    const rows = await query(
      `SELECT sensor_id, format, strftime(ts, '%Y-%m-%dT%H:%M:%SZ'), pm25, pm10, no2 FROM air_quality WHERE sensor_id LIKE 'same-%' ORDER BY sensor_id`,
    );
    // dateObserved 2016-03-15T11:00:00/12:00:00 without zone: Brussels time, so 11:00 UTC; 0.0123 GP is 12.3 µg/m³.
    expect(rows).toEqual(
      ['ngsi-ld-concise', 'ngsi-ld-normalized', 'ngsi-v2-keyvalues', 'ngsi-v2-normalized'].map((f) => [`same-${f}`, f, '2016-03-15T11:00:00Z', 12.3, 21, 69]),
    );
  });

  it('curates the other published examples field by field', async () => {
    expect(await query(`SELECT sensor_id, format, strftime(ts, '%Y-%m-%dT%H:%M:%SZ'), laeq, lamax FROM noise WHERE sensor_id <> 'orion' ORDER BY sensor_id`)).toEqual([
      ['nl-ldc', 'ngsi-ld-concise', '2016-12-28T12:00:00Z', 67.8, 94.5],
      ['nl-v2kv', 'ngsi-v2-keyvalues', '2016-12-28T12:00:00Z', 67.8, 94.5],
      ['ttn-bytes', 'ttn-v3', '2020-02-12T15:15:45Z', 67.8, 94.5],
    ]);
    expect(await query(`SELECT format, strftime(ts, '%Y-%m-%dT%H:%M:%SZ'), interval_s, cars, bikes, pedestrians, heavy_vehicles FROM traffic_count`)).toEqual([
      ['ngsi-v2-keyvalues', '2016-12-07T11:15:00Z', 300, 197, null, null, null],
    ]);
    // The container names no time: its state as it arrived.
    expect(await query(`SELECT format, fill_pct, battery_pct, ts = received_at FROM waste_fill`)).toEqual([['ngsi-v2-keyvalues', 40, null, true]]);
    expect(await query(`SELECT sensor_id, format, free_spaces, total_spaces FROM parking_occupancy ORDER BY sensor_id`)).toEqual([
      ['porto-23889', 'ngsi-v2-keyvalues-offstreet', 132, 414],
      ['spot-a13', 'ngsi-v2-keyvalues-spot', 1, 1],
    ]);
    expect(await query(`SELECT format, strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ'), level_cm FROM water_level`)).toEqual([['ngsi-v2-keyvalues', '2020-03-17T08:45:00.209Z', 352]]);
    // The topic names the sensor; sensor.community's time is UTC without zone; a push has none, so its arrival counts.
    expect(await query(`SELECT sensor_id, format, strftime(ts, '%Y-%m-%dT%H:%M:%SZ'), pm25, pm10, no2 FROM air_quality WHERE sensor_id IN ('sc-467', 'ttn-aq') ORDER BY sensor_id`)).toEqual([
      ['sc-467', 'sensor-community', '2017-03-30T19:24:02Z', 4.48, 6.73, null],
      ['ttn-aq', 'ttn-v3', '2020-02-12T15:15:45Z', 8.4, 15.2, null],
    ]);
    expect(await query(`SELECT format, pm25, pm10, ts = received_at FROM air_quality WHERE sensor_id = 'sc-push'`)).toEqual([['sensor-community', 1.7, 1.8, true]]);
  });

  it('gives each entity of a notification its own row', async () => {
    expect(await query(`SELECT message_id LIKE '%-0' OR message_id LIKE '%-1', format, laeq FROM noise WHERE sensor_id = 'orion' ORDER BY format`)).toEqual([
      [true, 'ngsi-ld-concise', 67.8],
      [true, 'ngsi-v2-keyvalues', 67.8],
    ]);
  });

  it('quarantines what lacks a field with a reason naming the path, and what it cannot recognise listing the formats', async () => {
    const records = await quarantineRecords<{ sensorId: string; reason: string }>(dataDir);
    const reasons = Object.fromEntries(records.map((r) => [r.sensorId, r.reason]));
    expect(reasons).toEqual({
      // The Madrid station measures NO2 but no particulates.
      'aq-v2kv': 'pm25 is missing; pm10 is missing',
      'aq-v2n': 'pm25 is missing; pm10 is missing',
      'aq-ldc': 'pm25 is missing; pm10 is missing',
      'aq-ldn': 'pm25 is missing; pm10 is missing',
      'ttn-dev1': 'uplink_message.decoded_payload.pm2_5 is missing; uplink_message.decoded_payload.pm10 is missing',
      'sc-660': 'sensordatavalues[value_type=P2].value is missing; sensordatavalues[value_type=P1].value is missing',
      'ttn-bytes':
        'uplink_message.decoded_payload is missing and air_quality declares no byte layout for uplink_message.frm_payload: set a payload formatter for the device in The Things Stack, or declare the byte layout in the dataset',
      'ttn-join': `payload is in no format air_quality accepts: ${acceptedFormats(getDataset('air_quality')).join(', ')}`,
    });
    expect(records).toHaveLength(8);
  });
});
