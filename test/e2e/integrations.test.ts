/**
 * Integrations through the real local platform: HTTP push with real
 * requests (node fetch), and a gateway publishing over MQTT through the
 * real broker with a real mqtt client. What arrives lands in raw as sent,
 * with its `via`, and is curated with the values the format maps.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSFORM_DEFAULTS } from '../../functions/core/reading.ts';
import { getDataset } from '../../datasets/index.ts';
import { acceptedFormats } from '../../functions/core/formats.ts';
import { MAX_PAYLOAD_BYTES } from '../../functions/core/envelope.ts';
import { integrationTopicFor, pushAuthorization } from '../../functions/core/integrations.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { DeviceRegistry } from '../../local/devices.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { startLocalPlatform, type LocalPlatform } from '../../local/runtime.ts';
import type { RunSummary } from '../../local/stats.ts';
import { quarantineRecords, tempDir } from '../helpers/fixtures.ts';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/pull');

/** The raw records of a dataset, in the order they were written. */
async function rawRecords(dataDir: string, datasetId: string): Promise<Record<string, unknown>[]> {
  const dir = join(dataDir, 'raw', datasetId);
  const records: Record<string, unknown>[] = [];
  for (const file of (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.jsonl')).sort()) {
    for (const line of (await readFile(join(dir, file), 'utf8')).split('\n')) if (line.trim() !== '') records.push(JSON.parse(line) as Record<string, unknown>);
  }
  return records;
}

describe('integrations on the local platform', () => {
  let dataDir: string;
  let platform: LocalPlatform;
  let url: string;
  let parkingSecret: string;
  let gatewaySecret: string;
  let devicePassword: string;
  let ttnSecret: string;
  let communitySecret: string;
  let records: { results: unknown[] };
  let summary: RunSummary;
  const lines: string[] = [];

  beforeAll(async () => {
    dataDir = await tempDir('datastroom-integrations-', 'file');
    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    ({ password: parkingSecret } = await registry.register('parking_occupancy', 'gent-odp', undefined, { format: 'opendatasoft-parking' }));
    ({ password: gatewaySecret } = await registry.register('air_quality', 'gw-1', undefined, {}));
    ({ password: ttnSecret } = await registry.register('air_quality', 'ttn-app1', undefined, { format: 'ttn-v3' }));
    ({ password: communitySecret } = await registry.register('air_quality', 'sc-city', undefined, {}));
    // A device switches broker authentication on: from then on the gateway is known by its credentials.
    ({ password: devicePassword } = await registry.register('air_quality', 'aq-1'));
    records = JSON.parse(await readFile(join(FIXTURES, 'opendatasoft/records.json'), 'utf8'));
    platform = await startLocalPlatform({
      dataDir,
      port: 0,
      simulate: false,
      buffering: { maxAgeMs: 200 },
      policy: { ...TRANSFORM_DEFAULTS, maxLatenessDays: 36_500 },
      log: (line) => lines.push(line),
    });
    url = `http://127.0.0.1:${platform.http?.port ?? 0}`;
  });

  afterAll(async () => {
    summary ??= await platform.stop();
  });

  const post = (path: string, body: string, headers: Record<string, string>) => fetch(`${url}${path}`, { method: 'POST', body, headers });
  const json = { 'Content-Type': 'application/json' };

  it('refuses a push without credentials, with a wrong secret, from an unknown name or with a device\'s password, alike', async () => {
    const body = JSON.stringify(records);
    const path = '/ingest/parking_occupancy';
    const answers = await Promise.all([
      post(path, body, json),
      post(path, body, { ...json, Authorization: pushAuthorization('gent-odp', 'wrong-secret-000000000') }),
      post(path, body, { ...json, Authorization: pushAuthorization('nobody', parkingSecret) }),
      post(path, body, { ...json, Authorization: pushAuthorization('aq-1', devicePassword) }),
      post(path, body, { ...json, Authorization: `Bearer gent-odp:${parkingSecret.slice(1)}` }),
    ]);
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 401]);
    const texts = await Promise.all(answers.map((a) => a.text()));
    expect(new Set(texts).size).toBe(1);
    expect(answers[0]?.headers.get('www-authenticate')).toBe('Basic realm="datastroom", charset="UTF-8"');
  });

  it('names known datasets and formats, refuses another dataset, non-JSON bodies and bodies over 128 KB', async () => {
    const auth = { Authorization: pushAuthorization('gent-odp', parkingSecret) };
    const unknown = await post('/ingest/parkings', '{}', { ...json, ...auth });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/^unknown dataset "parkings": known datasets are air_quality, noise, traffic_count/);
    const format = await post('/ingest/parking_occupancy/fiware', '{}', { ...json, ...auth });
    expect(format.status).toBe(404);
    expect(((await format.json()) as { error: string }).error).toBe(`dataset parking_occupancy accepts no format "fiware": it accepts ${acceptedFormats(getDataset('parking_occupancy')).join(', ')}`);
    const other = await post('/ingest/noise', '{}', { ...json, ...auth });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: string }).error).toBe('integration gent-odp delivers to dataset parking_occupancy only');
    const text = await post('/ingest/parking_occupancy', 'free=3', { 'Content-Type': 'application/x-www-form-urlencoded', ...auth });
    expect(text.status).toBe(415);
    const large = await post('/ingest/parking_occupancy', JSON.stringify({ results: [], pad: 'x'.repeat(MAX_PAYLOAD_BYTES) }), { ...json, ...auth });
    expect(large.status).toBe(413);
    const get = await fetch(`${url}/ingest/parking_occupancy`);
    expect(get.status).toBe(405);
  });

  it('acknowledges a push once it is in raw, as sent, with its via and format; the same push again is a duplicate', async () => {
    const body = JSON.stringify(records, null, 2);
    const auth = { Authorization: pushAuthorization('gent-odp', parkingSecret) };
    const first = await post('/ingest/parking_occupancy', body, { ...json, ...auth });
    expect(first.status).toBe(202);
    const again = await post('/ingest/parking_occupancy', body, { 'Content-Type': 'application/json; charset=utf-8', Authorization: `Bearer gent-odp:${parkingSecret}` });
    expect(again.status).toBe(202);
    expect(platform.http?.stats()).toEqual({ accepted: 2, refused: { 401: 5, 403: 1, 404: 2, 405: 1, 413: 1, 415: 1 } });
  });

  it('takes a The Things Stack webhook and sensor.community\'s own-API push as they send them', async () => {
    const formats = resolve(import.meta.dirname, '../fixtures/formats');
    const uplink = await readFile(join(formats, 'ttn-v3/variant-air-quality.json'), 'utf8');
    // The Things Stack's webhook: a custom Authorization header, the format in the integration.
    const ttn = await post('/ingest/air_quality', uplink, { ...json, Authorization: `Bearer ttn-app1:${ttnSecret}` });
    expect(ttn.status).toBe(202);
    // The firmware's "send to own API": user and password as Basic, its own headers beside; the format named in the path.
    const push = await readFile(join(formats, 'sensor-community/push-sds011.json'), 'utf8');
    const community = await post('/ingest/air_quality/sensor-community', push, { ...json, Authorization: pushAuthorization('sc-city', communitySecret), 'X-Sensor': 'esp8266-12345', 'X-Pin': '1' });
    expect(community.status).toBe(202);
  });

  it('lets a gateway publish over MQTT on its integration topic only', async () => {
    const payload = {
      station: '44R701',
      timestamp: Date.parse('2026-11-20T09:00:00Z'),
      timeseries: ['6152', '6153', '6154'].map((id) => ({ id, uom: 'µg/m³', parameters: { phenomenon: { id: { '6152': '5', '6153': '6001', '6154': '8' }[id] } } })),
      data: { '6152': { values: [{ timestamp: Date.parse('2026-11-20T09:00:00Z'), value: 24 }] }, '6153': { values: [{ timestamp: Date.parse('2026-11-20T09:00:00Z'), value: 13.5 }] }, '6154': { values: [{ timestamp: Date.parse('2026-11-20T09:00:00Z'), value: 35.8 }] } },
    };
    const gateway = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'gw-1', username: 'gw-1', password: gatewaySecret, reconnectPeriod: 0 });
    await gateway.publishAsync(integrationTopicFor('air_quality', 'gw-1'), JSON.stringify(payload), { qos: 1 });
    await gateway.endAsync();
    // Its name is no device: the device topic of that name is refused, and so is another dataset's integration topic.
    for (const topic of ['datastroom/air_quality/gw-1', integrationTopicFor('noise', 'gw-1')]) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'gw-1', username: 'gw-1', password: gatewaySecret, reconnectPeriod: 0 });
      const closed = new Promise<void>((r) => client.once('close', () => r()));
      client.publish(topic, JSON.stringify(payload), { qos: 0 });
      await closed;
      client.end(true);
    }
    expect(lines.filter((l) => l.startsWith('refused publish by "gw-1"'))).toEqual([
      'refused publish by "gw-1" to datastroom/air_quality/gw-1: an integration publishes only to datastroom/integrations/air_quality/gw-1',
      'refused publish by "gw-1" to datastroom/integrations/noise/gw-1: an integration publishes only to datastroom/integrations/air_quality/gw-1',
    ]);
  });

  it('curates what arrived with the values the formats map, and keeps the raw payloads as sent', async () => {
    summary = await platform.stop();
    expect(summary.datasets.parking_occupancy).toEqual({ received: 6, duplicates: 3, curated: 3, quarantined: 0 });
    expect(summary.datasets.air_quality).toEqual({ received: 3, duplicates: 0, curated: 3, quarantined: 0 });

    const parking = await rawRecords(dataDir, 'parking_occupancy');
    expect(parking).toHaveLength(2);
    expect(parking[0]).toMatchObject({ sensorId: 'gent-odp', via: 'http:gent-odp', format: 'opendatasoft-parking', payload: records });
    expect(Object.keys(parking[0] ?? {})).toEqual(['messageId', 'sensorId', 'receivedAt', 'via', 'format', 'payload']);
    expect(parking[1]?.messageId).toBe(parking[0]?.messageId);
    const air = await rawRecords(dataDir, 'air_quality');
    expect(air.map((r) => [r.sensorId, r.via, r.format])).toEqual([
      ['ttn-app1', 'http:ttn-app1', 'ttn-v3'],
      ['sc-city', 'http:sc-city', 'sensor-community'],
      ['gw-1', 'mqtt:gw-1', undefined],
    ]);

    const engine = await LocalQueryEngine.open(dataDir);
    try {
      const rows = (await engine.query('SELECT sensor_id, free_spaces, total_spaces, format FROM parking_occupancy ORDER BY sensor_id')).rows;
      expect(rows).toEqual([
        ['P-R-Bourgoyen', 331, 400, 'opendatasoft-parking'],
        ['Sint-Michiels', 49, 304, 'opendatasoft-parking'],
        ['Vrijdagmarkt', 212, 648, 'opendatasoft-parking'],
      ]);
      const aq = (await engine.query('SELECT sensor_id, pm10, pm25, no2, format FROM air_quality ORDER BY sensor_id')).rows;
      expect(aq).toEqual([
        ['44R701', 24, 13.5, 35.8, 'irceline-sos'],
        ['dev1', 15.2, 8.4, null, 'ttn-v3'],
        ['xxxxxxxx', 1.8, 1.7, null, 'sensor-community'],
      ]);
    } finally {
      engine.close();
    }
    expect(await quarantineRecords(dataDir)).toEqual([]);
  });
});
