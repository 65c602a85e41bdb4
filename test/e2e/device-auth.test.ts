/**
 * Device authentication on the embedded broker, with real MQTT clients and
 * the real `datastroom sensors` command in child processes: the rule of the
 * IoT device policy (connect only as yourself, publish only on your own
 * topic, subscribe to nothing), a stored mode that neither revoking nor
 * losing the devices file switches off, changes applied to open
 * connections, and password checks that an attacker can neither use to
 * stall the broker, to keep devices out, nor to learn usernames.
 */
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sensorsCommand } from '../../cli/commands/sensors.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { DeviceRegistry, SCRYPT } from '../../local/devices.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform, type LocalPlatform, type LocalPlatformOptions } from '../../local/runtime.ts';
import type { RunSummary } from '../../local/stats.ts';
import { cli } from '../helpers/cli.ts';
import { until } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/fixtures.ts';




const reading = (pm25: number) => JSON.stringify({ ts: brusselsIso(new Date()), pm25, pm10: 20, no2: 31 });
const connectTo = (port: number, options: IClientOptions) =>
  mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
const asDevice = (sensorId: string, password: string): IClientOptions => ({ clientId: sensorId, username: sensorId, password });
/** Resolves when the broker closes the client's connection. */
const closedByBroker = (client: MqttClient) => new Promise<void>((resolve) => client.once('close', () => resolve()));

async function platformIn(dataDir: string, lines: string[], options: Partial<LocalPlatformOptions> = {}): Promise<LocalPlatform> {
  return startLocalPlatform({ dataDir, port: 0, simulate: false, buffering: { maxAgeMs: 200 }, log: (line) => lines.push(line), ...options });
}

describe('local device authentication', () => {
  let dataDir: string;
  let platform: LocalPlatform;
  let airPassword: string;
  let noisePassword: string;
  let summary: RunSummary | undefined;
  const lines: string[] = [];
  const connect = (options: IClientOptions) => connectTo(platform.port, options);

  /** Publishes and waits for the broker to close the connection, as it does on an unauthorised publish. */
  async function publishAndExpectDisconnect(options: IClientOptions, topic: string, payload: string): Promise<void> {
    const client = await connect(options);
    const closed = closedByBroker(client);
    client.publish(topic, payload, { qos: 0 });
    await closed;
    client.end(true);
  }

  beforeAll(async () => {
    dataDir = await tempDir('datastroom-auth-', 'file');
    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    ({ password: airPassword } = await registry.register('air_quality', 'aq-auth-1'));
    ({ password: noisePassword } = await registry.register('noise', 'nz-auth-1'));
    await registry.register('air_quality', 'aq-auth-2');
    platform = await platformIn(dataDir, lines, { simulate: true, simulator: { sensors: 7, intervalMs: 100, seed: 7, malformedShare: 0 } });
  });

  afterAll(async () => {
    summary ??= await platform.stop();
  });

  it('says at start that authentication is on, and stores credentials hashed, never in clear', async () => {
    expect(lines.filter((l) => l.startsWith('device authentication is on: 3 registered devices'))).toHaveLength(1);
    const stored = JSON.parse(await readFile(`${dataDirLayout(dataDir).state}/devices.json`, 'utf8'));
    expect(JSON.parse(await readFile(`${dataDirLayout(dataDir).state}/authentication.json`, 'utf8'))).toEqual({ authentication: 'on' });
    expect(stored.authentication).toBeUndefined();
    expect(stored.devices.map((d: { hash: string }) => d.hash)).toEqual([
      expect.stringMatching(/^scrypt\$16384\$8\$1\$/),
      expect.stringMatching(/^scrypt\$16384\$8\$1\$/),
      expect.stringMatching(/^scrypt\$16384\$8\$1\$/),
    ]);
    expect(JSON.stringify(stored)).not.toContain(airPassword);
  });

  it('refuses a client that is not a registered device', async () => {
    await expect(connect({ clientId: 'intruder' })).rejects.toThrow(/Bad username or password/i);
  });

  it('refuses a registered sensor with a wrong password', async () => {
    await expect(connect(asDevice('aq-auth-2', 'guess'))).rejects.toThrow(/Bad username or password/i);
  });

  it('refuses a device connecting under another client id', async () => {
    await expect(connect({ clientId: 'someone-else', username: 'aq-auth-1', password: airPassword })).rejects.toThrow(/Identifier rejected/i);
  });

  it('refuses every subscription, even of a registered device', async () => {
    const client = await connect(asDevice('nz-auth-1', noisePassword));
    await expect(client.subscribeAsync('#', { qos: 0 })).rejects.toThrow(/Subscribe error/);
    await expect(client.subscribeAsync('datastroom/anpr_passage/+', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    await client.endAsync();
  });

  it('disconnects a sensor publishing to another sensor’s or another dataset’s topic, and keeps nothing of it', async () => {
    await publishAndExpectDisconnect(asDevice('aq-auth-1', airPassword), 'datastroom/air_quality/aq-other', reading(901));
    await publishAndExpectDisconnect(asDevice('nz-auth-1', noisePassword), 'datastroom/air_quality/nz-auth-1', reading(902));
    // Basic Ingest: only its own topic, through its own dataset's rule.
    await publishAndExpectDisconnect(asDevice('aq-auth-1', airPassword), '$aws/rules/datastroom_prod_noise/datastroom/air_quality/aq-auth-1', reading(903));
    await publishAndExpectDisconnect(asDevice('aq-auth-1', airPassword), '$aws/rules/datastroom_prod_air_quality/datastroom/air_quality/aq-other', reading(904));
    expect(lines.filter((l) => l.startsWith('refused publish'))).toHaveLength(4);
  });

  it('curates a registered sensor’s own readings, and the demo fleet’s, which registered itself', async () => {
    const client = await connect(asDevice('aq-auth-1', airPassword));
    const first = reading(42);
    await client.publishAsync('datastroom/air_quality/aq-auth-1', first, { qos: 1 });
    // The same message by Basic Ingest, as a device set up for AWS sends it: the same id, so one row.
    const basicIngest = '$aws/rules/datastroom_prod_air_quality/datastroom/air_quality/aq-auth-1';
    await client.publishAsync(basicIngest, first, { qos: 1 });
    await client.publishAsync(basicIngest, reading(43), { qos: 1 });
    await client.endAsync();
    summary = await platform.stop();
    const engine = await LocalQueryEngine.open(dataDir);
    const own = await engine.query("SELECT pm25 FROM air_quality WHERE sensor_id = 'aq-auth-1' ORDER BY pm25");
    const stolen = await engine.query('SELECT count(*) FROM air_quality WHERE pm25 > 900');
    const fleet = await engine.query("SELECT count(*) FROM air_quality WHERE sensor_id LIKE 'air-quality-%'");
    engine.close();
    expect(own.rows).toEqual([[42], [43]]);
    expect(stolen.rows).toEqual([[0]]);
    expect(Number(fleet.rows[0]?.[0])).toBeGreaterThan(0);
    expect(platform.simulator?.failures).toBe(0);
    expect(summary.received).toBe(summary.published + 3);
  });
});

describe('authentication is a stored mode, applied to open connections', () => {
  it('stays on when the last device is revoked; the revoked device is disconnected and forged readings are refused', async () => {
    const dataDir = await tempDir();
    const { password } = await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-last');
    const lines: string[] = [];
    const platform = await platformIn(dataDir, lines);
    const device = await connectTo(platform.port, asDevice('aq-last', password));
    const disconnected = closedByBroker(device);
    await device.publishAsync('datastroom/air_quality/aq-last', reading(1), { qos: 1 });

    const revoke = await cli(['sensors', 'revoke', 'air_quality', 'aq-last', '--local', '--data-dir', dataDir]);
    expect(revoke).toMatchObject({ code: 0, stdout: expect.stringContaining('device authentication stays on (0 devices left)') });
    await disconnected;
    device.end(true);

    await expect(connectTo(platform.port, asDevice('aq-last', password))).rejects.toThrow(/Bad username or password/i);
    await expect(connectTo(platform.port, { clientId: 'forger' })).rejects.toThrow(/Bad username or password/i);
    const status = await cli(['sensors', 'auth', 'status', '--local', '--data-dir', dataDir]);
    expect(status.stdout).toBe('device authentication is on: only the 0 registered devices and the demo fleet may connect; a running datastroom dev disconnects any other client\n');
    const summary = await platform.stop();
    expect(summary.datasets.air_quality).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });
    expect(lines.filter((l) => l.startsWith('disconnected client "aq-last": device aq-last was revoked'))).toHaveLength(1);
  });

  it('disconnects clients that connected while it was off once a device is registered, and the demo fleet goes on', async () => {
    const dataDir = await tempDir();
    const lines: string[] = [];
    const platform = await platformIn(dataDir, lines, { simulate: true, simulator: { sensors: 7, intervalMs: 50, seed: 11, malformedShare: 0 } });
    expect(lines.filter((l) => l.startsWith('device authentication is off: no device is registered'))).toHaveLength(1);
    const spy = await connectTo(platform.port, { clientId: 'spy' });
    let passages = 0;
    spy.on('message', (topic) => {
      if (topic.startsWith('datastroom/anpr_passage/')) passages += 1;
    });
    await spy.subscribeAsync('#', { qos: 0 });
    await until(() => passages > 0, 'the spy to receive an ANPR passage while authentication is off');
    const spyDisconnected = closedByBroker(spy);

    const register = await cli(['sensors', 'register', 'noise', 'nz-new', '--local', '--data-dir', dataDir]);
    expect(register.stdout).toContain('device authentication is now on');
    await spyDisconnected;
    spy.end(true);
    const password = /password \(shown once\): (\S+)/.exec(register.stdout)?.[1] ?? '';
    await expect(connectTo(platform.port, { clientId: 'spy' })).rejects.toThrow(/Bad username or password/i);
    const device = await connectTo(platform.port, asDevice('nz-new', password));
    await expect(device.subscribeAsync('#', { qos: 0 })).rejects.toThrow(/Subscribe error/);
    await device.publishAsync('datastroom/noise/nz-new', JSON.stringify({ ts: brusselsIso(new Date()), laeq: 55.5 }), { qos: 1 });
    await device.endAsync();

    const fleet = platform.simulator!;
    const atSwitch = fleet.total;
    await until(() => fleet.total > atSwitch + 20, 'the demo fleet to keep publishing with authentication on');
    const summary = await platform.stop();
    expect(fleet.failures).toBe(0);
    expect(summary.received).toBe(summary.published + 1);
    expect(lines.filter((l) => l.startsWith('device authentication is now on'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('disconnected client "spy"'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('disconnected client "') && !l.startsWith('disconnected client "spy"'))).toEqual([]);
  });

  it('goes off only when an operator says so, and on again the same way', async () => {
    const dataDir = await tempDir();
    await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-op');
    const lines: string[] = [];
    const platform = await platformIn(dataDir, lines);
    await expect(connectTo(platform.port, { clientId: 'guest' })).rejects.toThrow(/Bad username or password/i);

    const off = await cli(['sensors', 'auth', 'off', '--local', '--data-dir', dataDir]);
    expect(off).toMatchObject({ code: 0, stdout: 'device authentication is off: any client may connect, publish on any topic and subscribe (1 registered device)\n' });
    await until(() => lines.some((l) => l.startsWith('device authentication is now off')), 'the broker to switch authentication off');
    const guest = await connectTo(platform.port, { clientId: 'guest' });
    await guest.publishAsync('datastroom/air_quality/guest', reading(3), { qos: 1 });
    const guestDisconnected = closedByBroker(guest);

    expect((await cli(['sensors', 'auth', 'on', '--local', '--data-dir', dataDir])).code).toBe(0);
    await guestDisconnected;
    guest.end(true);
    const summary = await platform.stop();
    expect(summary.datasets.air_quality).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });

    await DeviceRegistry.of(dataDirLayout(dataDir)).setAuthentication('off');
    const again: string[] = [];
    await (await platformIn(dataDir, again)).stop();
    expect(again.filter((l) => l.startsWith('device authentication is off, as switched off by an operator'))).toHaveLength(1);
    await expect(sensorsCommand(['auth', 'sideways', '--local', '--data-dir', dataDir])).rejects.toThrow(/auth takes on, off or status/);
    await expect(sensorsCommand(['auth', 'status', '--data-dir', dataDir])).rejects.toThrow(/auth is for the local platform \(--local\)/);
  });
  it('stays on when devices.json loses its mode field or its devices, or is deleted, while running and at the next start', async () => {
    const dataDir = await tempDir();
    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    const { password } = await registry.register('air_quality', 'aq-kept');
    const lines: string[] = [];
    const platform = await platformIn(dataDir, lines);
    const device = await connectTo(platform.port, asDevice('aq-kept', password));
    const disconnected = closedByBroker(device);

    // As a hand edit or an older tool might leave it: no mode, no devices.
    await writeFile(registry.file, JSON.stringify({ devices: [] }));
    await disconnected;
    device.end(true);
    await expect(connectTo(platform.port, { clientId: 'anonymous' })).rejects.toThrow(/Bad username or password/i);
    await rm(registry.file);
    await until(() => lines.some((l) => l.startsWith(`device registry ${registry.file} is gone`)), 'the broker to notice the devices file is gone');
    await expect(connectTo(platform.port, { clientId: 'anonymous' })).rejects.toThrow(/Bad username or password/i);
    await platform.stop();
    expect(lines.filter((l) => l.startsWith('device authentication is now off'))).toEqual([]);

    const again: string[] = [];
    const restarted = await platformIn(dataDir, again);
    await expect(connectTo(restarted.port, { clientId: 'anonymous' })).rejects.toThrow(/Bad username or password/i);
    await restarted.stop();
    expect(again.filter((l) => l.startsWith('device authentication is on: 0 registered devices'))).toHaveLength(1);
    expect((await cli(['sensors', 'auth', 'status', '--local', '--data-dir', dataDir])).stdout).toMatch(/^device authentication is on/);
  });
});

describe('password checks', () => {
  it('cost one scrypt derivation of the same parameters for an unknown user and for a wrong password', async () => {
    const dataDir = await tempDir();
    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    const { password } = await registry.register('water_level', 'wl-known');
    const { password: other } = await registry.register('water_level', 'wl-other');
    const platform = await platformIn(dataDir, []);
    const checks = () => platform.devices.passwordChecks;

    await expect(connectTo(platform.port, asDevice('wl-unknown', password))).rejects.toThrow(/Bad username or password/i);
    expect(checks()).toBe(1);
    await expect(connectTo(platform.port, asDevice('wl-known', `${password}x`))).rejects.toThrow(/Bad username or password/i);
    expect(checks()).toBe(2);
    // The same credentials again are backed off: refused without a check, as a wrong password is.
    await expect(connectTo(platform.port, asDevice('wl-known', `${password}x`))).rejects.toThrow(/Bad username or password/i);
    expect(checks()).toBe(2);
    // Only the failing credentials back off: the right password is checked, from the same address and client id.
    await (await connectTo(platform.port, asDevice('wl-known', password))).endAsync();
    expect(checks()).toBe(3);
    const device = await connectTo(platform.port, asDevice('wl-other', other));
    expect(checks()).toBe(4);
    await device.endAsync();
    await platform.stop();
    // New hashes are made with the same parameters an unknown username is checked with.
    const stored = JSON.parse(await readFile(registry.file, 'utf8'));
    expect(stored.devices[0].hash).toMatch(new RegExp(`^scrypt\\$${SCRYPT.N}\\$${SCRYPT.r}\\$${SCRYPT.p}\\$`));
  });

  it('run off the event loop: a device’s publishes are acknowledged while 20 attackers hammer wrong passwords, all refused', async () => {
    const dataDir = await tempDir();
    const { password } = await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-target');
    const lines: string[] = [];
    const platform = await platformIn(dataDir, lines);
    const device = await connectTo(platform.port, asDevice('aq-target', password));

    const ATTACKERS = 20;
    const ATTEMPTS = 3;
    let wrongPassword = 0;
    let busy = 0;
    let admitted = 0;
    let attacking = true;
    // Half guess usernames (each attempt a new one, so no backoff spares the check),
    // half try one password each on the target again and again (backed off after their first failure).
    const attack = Promise.all(
      Array.from({ length: ATTACKERS }, async (_, a) => {
        for (let k = 0; k < ATTEMPTS; k++) {
          const id = a % 2 === 0 ? `ghost-${a}-${k}` : 'aq-target';
          try {
            const intruder = await connectTo(platform.port, { clientId: id, username: id, password: a % 2 === 0 ? `guess-${a}-${k}` : `guess-${a}` });
            admitted += 1;
            intruder.end(true);
          } catch (error) {
            if (/Bad username or password/i.test(String(error))) wrongPassword += 1;
            else if (/Server unavailable/i.test(String(error))) busy += 1;
            else throw error;
          }
        }
      }),
    ).finally(() => (attacking = false));

    await until(() => platform.devices.passwordChecks > 0, 'the attack to start');
    let acknowledged = 0;
    let duringAttack = 0;
    for (let i = 0; i < 20; i++) {
      await device.publishAsync('datastroom/air_quality/aq-target', reading(i), { qos: 1 });
      acknowledged += 1;
      if (attacking) duringAttack += 1;
    }
    await attack;
    await device.endAsync();
    const summary = await platform.stop();

    expect(acknowledged).toBe(20);
    expect(duringAttack).toBeGreaterThan(0);
    expect(admitted).toBe(0);
    expect(wrongPassword + busy).toBe(ATTACKERS * ATTEMPTS);
    // Each guessed username cost a check unless it was turned away as busy (no check);
    // the target's guessers were mostly backed off (refused without a check).
    const checks = platform.devices.passwordChecks;
    expect(checks).toBeGreaterThanOrEqual((ATTACKERS / 2) * ATTEMPTS - busy);
    expect(checks).toBeLessThan(wrongPassword);
    expect(summary.datasets.air_quality).toEqual({ received: 20, duplicates: 0, curated: 20, quarantined: 0 });
  });

  it('let in a device whose password was verified once on every reconnect while 100 clients from its address flood wrong passwords with fresh client ids', async () => {
    const dataDir = await tempDir();
    const { password } = await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-flooded');
    const platform = await platformIn(dataDir, []);
    // The first connect is checked by scrypt; from then on the device's password is known.
    await (await connectTo(platform.port, asDevice('aq-flooded', password))).endAsync();
    expect(platform.devices.passwordChecks).toBe(1);

    const flood = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, '../helpers/connect-flood.ts'), String(platform.port), '100'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let report = '';
    flood.stdout.on('data', (d: Buffer) => (report += d.toString()));
    const floodExited = new Promise((r) => flood.once('exit', r));
    try {
      // Enough checks under way that, without fairness, the queue would be full.
      await until(() => platform.devices.passwordChecks > 20, 'the flood to start', () => (flood.exitCode !== null ? `the flood exited with ${flood.exitCode}` : undefined));
      const RECONNECTS = 10;
      let connected = 0;
      for (let i = 0; i < RECONNECTS; i++) {
        const device = await connectTo(platform.port, asDevice('aq-flooded', password));
        connected += 1;
        await device.publishAsync('datastroom/air_quality/aq-flooded', reading(i), { qos: 1 });
        await device.endAsync();
      }
      expect(connected).toBe(RECONNECTS);
      expect(platform.devices.recalledChecks).toBe(RECONNECTS);
    } finally {
      flood.kill('SIGTERM');
      await floodExited;
    }
    const summary = await platform.stop();
    const attack = JSON.parse(report) as { attempts: number; admitted: number; refused: number };
    expect(attack.admitted).toBe(0);
    expect(attack.refused).toBeGreaterThan(20);
    expect(summary.datasets.air_quality).toEqual({ received: 10, duplicates: 0, curated: 10, quarantined: 0 });
  });

  it('let in a device, even before its first check, while another client from its address keeps failing with its client id', async () => {
    const dataDir = await tempDir();
    const { password } = await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-locked');
    const lines: string[] = [];
    const platform = await platformIn(dataDir, lines);

    let attacking = true;
    let refused = 0;
    let admitted = 0;
    const attacker = (async () => {
      for (let i = 0; attacking; i++) {
        try {
          (await connectTo(platform.port, asDevice('aq-locked', `guess-${i % 2}`))).end(true);
          admitted += 1;
        } catch {
          refused += 1;
        }
      }
    })();
    const failures = () => lines.filter((l) => l.startsWith('refused client "aq-locked" from 127.0.0.1: unknown device or wrong password')).length;
    // Both guesses failed their check: they are backed off, and the attacker is refused without one.
    await until(() => failures() >= 2 && refused > failures(), 'the attacker’s guesses to be backed off');
    let connected = 0;
    for (let i = 0; i < 6; i++) {
      const device = await connectTo(platform.port, asDevice('aq-locked', password));
      connected += 1;
      await device.endAsync();
    }
    attacking = false;
    await attacker;
    await platform.stop();
    expect(connected).toBe(6);
    expect(admitted).toBe(0);
    // The first connect was checked by scrypt, the next five by the password's fast digest.
    expect(platform.devices.recalledChecks).toBe(5);
  });
});
