/**
 * Device authentication on the embedded broker, with real MQTT clients: the
 * rule of the IoT device policy (connect only as yourself, publish only on
 * your own topic), enforced locally once a device is registered.
 */
import mqtt, { type IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirLayout } from '../../local/data-dir.ts';
import { DeviceRegistry } from '../../local/devices.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform, type LocalPlatform } from '../../local/runtime.ts';
import type { RunSummary } from '../../local/stats.ts';
import { tempDir } from '../helpers/fixtures.ts';

let dataDir: string;
let platform: LocalPlatform;
let airPassword: string;
let noisePassword: string;
const refusals: string[] = [];

const reading = (pm25: number) => JSON.stringify({ ts: brusselsIso(new Date()), pm25, pm10: 20, no2: 31 });
const url = () => `mqtt://127.0.0.1:${platform.port}`;
const connect = (options: IClientOptions) => mqtt.connectAsync(url(), { reconnectPeriod: 0, connectTimeout: 5000, ...options });

/** Publishes and waits for the broker to close the connection, as it does on an unauthorised publish. */
async function publishAndExpectDisconnect(options: IClientOptions, topic: string, payload: string): Promise<void> {
  const client = await connect(options);
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish(topic, payload, { qos: 0 });
  await closed;
  client.end(true);
}

beforeAll(async () => {
  dataDir = await tempDir('datastroom-auth-', 'file');
  const registry = DeviceRegistry.of(dataDirLayout(dataDir));
  ({ password: airPassword } = await registry.register('air_quality', 'aq-auth-1'));
  ({ password: noisePassword } = await registry.register('noise', 'nz-auth-1'));
  platform = await startLocalPlatform({
    dataDir,
    port: 0,
    simulator: { sensors: 7, intervalMs: 100, seed: 7, malformedShare: 0 },
    buffering: { maxAgeMs: 200 },
    log: (line) => refusals.push(line),
  });
});

let summary: RunSummary | undefined;
afterAll(async () => {
  summary ??= await platform.stop();
});

describe('local device authentication', () => {
  it('stores credentials hashed, never in clear', async () => {
    const { readFile } = await import('node:fs/promises');
    const stored = await readFile(`${dataDirLayout(dataDir).state}/devices.json`, 'utf8');
    expect(stored).toMatch(/"hash": "scrypt\$/);
    expect(stored).not.toContain(airPassword);
  });

  it('refuses a client that is not a registered device', async () => {
    await expect(connect({ clientId: 'intruder' })).rejects.toThrow(/Bad username or password/i);
  });

  it('refuses a registered sensor with a wrong password', async () => {
    await expect(connect({ clientId: 'aq-auth-1', username: 'aq-auth-1', password: 'guess' })).rejects.toThrow(/Bad username or password/i);
  });

  it('refuses a device connecting under another client id', async () => {
    await expect(connect({ clientId: 'someone-else', username: 'aq-auth-1', password: airPassword })).rejects.toThrow(/Identifier rejected/i);
  });

  it('disconnects a sensor publishing to another sensor’s or another dataset’s topic, and keeps nothing of it', async () => {
    await publishAndExpectDisconnect({ clientId: 'aq-auth-1', username: 'aq-auth-1', password: airPassword }, 'datastroom/air_quality/aq-other', reading(901));
    await publishAndExpectDisconnect({ clientId: 'nz-auth-1', username: 'nz-auth-1', password: noisePassword }, 'datastroom/air_quality/nz-auth-1', reading(902));
    expect(refusals.filter((l) => l.startsWith('refused publish'))).toHaveLength(2);
  });

  it('curates a registered sensor’s own readings, and the demo fleet’s, which registered itself', async () => {
    const client = await connect({ clientId: 'aq-auth-1', username: 'aq-auth-1', password: airPassword });
    await client.publishAsync('datastroom/air_quality/aq-auth-1', reading(42), { qos: 1 });
    await client.endAsync();
    await new Promise((r) => setTimeout(r, 500));
    summary = await platform.stop();
    const engine = await LocalQueryEngine.open(dataDir);
    const own = await engine.query("SELECT pm25 FROM air_quality WHERE sensor_id = 'aq-auth-1'");
    const stolen = await engine.query('SELECT count(*) FROM air_quality WHERE pm25 > 900');
    const fleet = await engine.query("SELECT count(*) FROM air_quality WHERE sensor_id LIKE 'air-quality-%'");
    engine.close();
    expect(own.rows).toEqual([[42]]);
    expect(stolen.rows).toEqual([[0]]);
    expect(Number(fleet.rows[0]?.[0])).toBeGreaterThan(0);
    expect(summary.published).toBeGreaterThan(0);
  });
});
