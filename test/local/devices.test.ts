/**
 * The devices file and the authentication mode's file, shared by
 * `datastroom sensors` commands and a running `datastroom dev`: changes from
 * parallel processes are never lost, a lock that cannot be written leaves
 * none behind, credentials are written before the registry changes, an
 * invalid file is refused by name before the broker listens, and a file that
 * turns invalid or disappears under a running broker leaves the last good
 * state in force.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { resolve } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { dataDirLayout } from '../../local/data-dir.ts';
import { AUTHENTICATION_FILE, DeviceRegistry, DevicesFileError } from '../../local/devices.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import { StateFileLockedError, withStateLock } from '../../local/state-file.ts';
import { BIN, cli } from '../helpers/cli.ts';
import { until } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { freePort } from '../helpers/net.ts';




/** Eight CLI processes starting at once on a small, shared machine take a while: a generous safety net. */
const PARALLEL_CLI = 240_000;

const passwordIn = (stdout: string) => /password \(shown once\): (\S+)/.exec(stdout)?.[1];
const devicesFile = (dataDir: string) => resolve(dataDirLayout(dataDir).state, 'devices.json');
const modeFile = (dataDir: string) => resolve(dataDirLayout(dataDir).state, AUTHENTICATION_FILE);

/** Runs the CLI in a child process whose files may not grow past `blocks` blocks (`ulimit -f`): every larger write fails. */
function cliWithFileLimit(blocks: number, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', `ulimit -f ${blocks} && exec "$0" "$@"`, process.execPath, BIN, ...args], (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** Whether anything accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('concurrent sensors commands', () => {
  it('8 parallel `sensors register --local` store all 8, each with the password it printed', async () => {
    const dataDir = await tempDir();
    const ids = Array.from({ length: 8 }, (_, i) => `aq-par-${i + 1}`);
    const results = await Promise.all(ids.map((id) => cli(['sensors', 'register', 'air_quality', id, '--local', '--data-dir', dataDir])));
    expect(results.map((r) => r.code)).toEqual(ids.map(() => 0));

    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    expect((await registry.list()).map((d) => d.sensorId).sort()).toEqual(ids);
    await registry.open();
    const verified = await Promise.all(ids.map((id, i) => registry.verify(id, Buffer.from(passwordIn(results[i]!.stdout) ?? ''))));
    registry.close();
    expect(verified.map((c) => c?.device.sensorId)).toEqual(ids);
    // Exactly one of them switched authentication on.
    expect(results.filter((r) => r.stdout.includes('device authentication is now on'))).toHaveLength(1);
    const state = await readdir(dataDirLayout(dataDir).state);
    expect(state.sort()).toEqual(['authentication.json', 'devices.json']);
  }, PARALLEL_CLI);

  it('register and revoke racing never bring a revoked device back', async () => {
    const dataDir = await tempDir();
    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    for (let i = 1; i <= 4; i++) await registry.register('noise', `nz-old-${i}`);
    const results = await Promise.all([
      ...[1, 2, 3, 4].map((i) => cli(['sensors', 'revoke', 'noise', `nz-old-${i}`, '--local', '--data-dir', dataDir])),
      ...[1, 2, 3, 4].map((i) => cli(['sensors', 'register', 'noise', `nz-new-${i}`, '--local', '--data-dir', dataDir])),
    ]);
    expect(results.map((r) => r.code)).toEqual(Array.from({ length: 8 }, () => 0));
    expect((await registry.list()).map((d) => d.sensorId).sort()).toEqual(['nz-new-1', 'nz-new-2', 'nz-new-3', 'nz-new-4']);
    expect(await registry.status()).toEqual({ authentication: 'on', devices: 4 });
  }, PARALLEL_CLI);
});

describe('the state lock', () => {
  it('breaks a lock left by a process that died, and keeps it the while it is used', async () => {
    const dir = await tempDir();
    const file = resolve(dir, 'devices.json');
    const dead = spawn(process.execPath, ['-e', '']);
    const pid = dead.pid!;
    await new Promise((r) => dead.once('exit', r));
    await writeFile(`${file}.lock`, `${pid} abandoned 2026-01-01T00:00:00.000Z\n`);
    let ran = 0;
    await withStateLock(file, async () => {
      ran += 1;
      expect(await readFile(`${file}.lock`, 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    });
    expect(ran).toBe(1);
    expect(await readdir(dir)).toEqual([]);
  });

  it('waits for a live holder and names the lock when it gives up', async () => {
    const dir = await tempDir();
    const file = resolve(dir, 'devices.json');
    await writeFile(`${file}.lock`, `${process.pid} held 2026-01-01T00:00:00.000Z\n`);
    let ran = 0;
    const attempt = withStateLock(file, async () => (ran += 1), { timeoutMs: 300 });
    await expect(attempt).rejects.toThrow(StateFileLockedError);
    await expect(attempt).rejects.toThrow(`${file} is being changed by another process (process ${process.pid}); try again, or if no datastroom command is running, remove ${file}.lock`);
    expect(ran).toBe(0);
  });
  it('leaves no lock behind when it cannot write one, and the next command goes on at once', async () => {
    const dataDir = await tempDir();
    // A normal run first: it also brings the command's build up to date, which a file size limit would stop.
    const first = await cli(['sensors', 'register', 'air_quality', 'aq-full-1', '--local', '--data-dir', dataDir]);
    expect(first.code).toBe(0);
    const file = devicesFile(dataDir);
    // No file may grow past 0 bytes: the lock's content is the first thing `auth off` writes.
    const off = await cliWithFileLimit(0, ['sensors', 'auth', 'off', '--local', '--data-dir', dataDir]);
    expect(off.code).toBe(1);
    expect(off.stderr).toContain(`cannot change ${file}: writing its lock ${file}.lock failed (EFBIG); nothing was changed`);
    expect((await readdir(dataDirLayout(dataDir).state)).sort()).toEqual(['authentication.json', 'devices.json']);
    expect(await DeviceRegistry.of(dataDirLayout(dataDir)).status()).toEqual({ authentication: 'on', devices: 1 });

    // Without a lock left behind, nothing waits for one to go stale.
    const next = await cli(['sensors', 'register', 'air_quality', 'aq-full-2', '--local', '--data-dir', dataDir]);
    expect(next.code).toBe(0);
    expect(await DeviceRegistry.of(dataDirLayout(dataDir)).status()).toEqual({ authentication: 'on', devices: 2 });
  }, PARALLEL_CLI);

  it('breaks an empty lock whose writer is gone without waiting, and waits for one just made', async () => {
    const dir = await tempDir();
    const file = resolve(dir, 'devices.json');
    await writeFile(`${file}.lock`, '');
    let ran = 0;
    // A fresh empty lock may be one being written: waited for (here for no time at all).
    await expect(withStateLock(file, async () => (ran += 1), { timeoutMs: 0 })).rejects.toThrow(`${file} is being changed by another process (an unknown process)`);
    const past = new Date(Date.now() - 10_000);
    await utimes(`${file}.lock`, past, past);
    await withStateLock(file, async () => (ran += 1), { timeoutMs: 0 });
    expect(ran).toBe(1);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('sensors register --local', () => {
  it('writes the credentials before the registry changes: when they cannot be written, the device keeps its password', async () => {
    const dataDir = await tempDir();
    const first = await cli(['sensors', 'register', 'air_quality', 'aq-cred', '--local', '--data-dir', dataDir]);
    expect(first.code).toBe(0);
    const password = passwordIn(first.stdout) ?? '';
    const registered = await readFile(devicesFile(dataDir), 'utf8');
    const blocker = resolve(dataDir, 'not-a-directory');
    await writeFile(blocker, 'x');

    const again = await cli(['sensors', 'register', 'air_quality', 'aq-cred', '--local', '--out', resolve(blocker, 'sub'), '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `cannot write the credentials of aq-cred to ${resolve(blocker, 'sub', 'credentials.json')} (ENOTDIR); nothing was registered (a device registered before keeps its password)`,
    );
    expect(await readFile(devicesFile(dataDir), 'utf8')).toBe(registered);
    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    await registry.open();
    expect((await registry.verify('aq-cred', Buffer.from(password)))?.device.sensorId).toBe('aq-cred');
    registry.close();
    expect(JSON.parse(await readFile(resolve(dataDir, 'devices', 'aq-cred', 'credentials.json'), 'utf8')).password).toBe(password);

    // A first registration that cannot write its credentials switches nothing on.
    const fresh = await tempDir();
    const none = await cli(['sensors', 'register', 'air_quality', 'aq-none', '--local', '--out', resolve(blocker, 'sub'), '--data-dir', fresh]);
    expect(none.code).toBe(1);
    expect(await DeviceRegistry.of(dataDirLayout(fresh)).status()).toEqual({ authentication: 'off', devices: 0 });
    expect(await readdir(dataDirLayout(fresh).state).catch(() => [])).toEqual([]);
  }, PARALLEL_CLI);

  it('removes the credentials it wrote when the registry cannot be changed', async () => {
    const dataDir = await tempDir();
    const first = await cli(['sensors', 'register', 'noise', 'nz-cred', '--local', '--data-dir', dataDir]);
    expect(first.code).toBe(0);
    const credentials = resolve(dataDir, 'devices', 'nz-cred', 'credentials.json');
    const written = await readFile(credentials, 'utf8');
    await writeFile(devicesFile(dataDir), '{"devices": [');

    const again = await cli(['sensors', 'register', 'noise', 'nz-cred', '--local', '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`device registry ${devicesFile(dataDir)} is invalid: not valid JSON`);
    expect(await readdir(resolve(dataDir, 'devices', 'nz-cred'))).toEqual(['credentials.json']);
    expect(await readFile(credentials, 'utf8')).toBe(written);
    // A new device's credentials directory goes as well.
    expect((await cli(['sensors', 'register', 'noise', 'nz-new', '--local', '--data-dir', dataDir])).code).toBe(1);
    expect(await readdir(resolve(dataDir, 'devices'))).toEqual(['nz-cred']);
  }, PARALLEL_CLI);
});

describe('an invalid devices file', () => {
  it('stops `dev` before its broker listens, naming the file and the problem', async () => {
    const dataDir = await tempDir();
    await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-edit');
    const file = devicesFile(dataDir);
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace('"air_quality"', '"air_qualty"'));
    const port = await freePort();
    const dev = await cli(['dev', '--no-simulate', '--port', String(port), '--duration', '30', '--data-dir', dataDir]);
    expect(dev.code).toBe(1);
    expect(dev.stderr).toContain(`device registry ${file} is invalid: devices[0].datasetId: no dataset "air_qualty" in the register`);
    expect(dev.stderr).toContain('moving it away does not switch authentication off');
    expect(dev.stderr).not.toContain('MQTT broker listening');
    expect(await listening(port)).toBe(false);

    await writeFile(file, good.slice(0, 40));
    const list = await cli(['sensors', 'list', '--local', '--data-dir', dataDir]);
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(new RegExp(`^datastroom sensors: device registry ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is invalid: not valid JSON`));
  });

  it.each([
    ['a missing hash', (d: Record<string, unknown>) => delete d.hash, 'devices[0].hash: Invalid input: expected string, received undefined'],
    ['a sensor id that is no thing name', (d: Record<string, unknown>) => (d.sensorId = 'a b'), 'devices[0].sensorId: sensor id "a b" is not a valid thing name'],
    ['a hash with a cost that would stall every check', (d: Record<string, unknown>) => (d.hash = String(d.hash).replace('$16384$', '$1073741824$')), 'devices[0].hash has N 1073741824'],
  ])('is refused with %s, and nothing is written over it', async (_name, edit, problem) => {
    const dataDir = await tempDir();
    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    await registry.register('air_quality', 'aq-edit');
    const parsed = JSON.parse(await readFile(registry.file, 'utf8'));
    edit(parsed.devices[0]);
    const edited = JSON.stringify(parsed);
    await writeFile(registry.file, edited);
    await expect(registry.open()).rejects.toThrow(DevicesFileError);
    await expect(registry.register('air_quality', 'aq-more')).rejects.toThrow(problem);
    expect(await readFile(registry.file, 'utf8')).toBe(edited);
  });

  it('that turns invalid under a running broker leaves the last good state in force, reported once', async () => {
    const dataDir = await tempDir();
    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    const { password } = await registry.register('air_quality', 'aq-keep');
    const lines: string[] = [];
    const platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, buffering: { maxAgeMs: 200 }, log: (l) => lines.push(l) });
    const invalid = () => lines.filter((l) => l.startsWith(`device registry ${registry.file} is invalid`));

    await writeFile(registry.file, '{"authentication": "off", "devices": [');
    await until(() => invalid().length > 0, 'the broker to notice the invalid file');
    await writeFile(registry.file, '{"authentication": "off"}');
    await writeFile(registry.file, 'not json at all');
    const url = `mqtt://127.0.0.1:${platform.port}`;
    await expect(mqtt.connectAsync(url, { clientId: 'anyone', reconnectPeriod: 0 })).rejects.toThrow(/Bad username or password/i);
    const device = await mqtt.connectAsync(url, { clientId: 'aq-keep', username: 'aq-keep', password, reconnectPeriod: 0 });
    await device.publishAsync('datastroom/air_quality/aq-keep', JSON.stringify({ ts: brusselsIso(new Date()), pm25: 1, pm10: 2, no2: 3 }), { qos: 1 });
    expect(await cli(['sensors', 'revoke', 'air_quality', 'aq-keep', '--local', '--data-dir', dataDir])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`device registry ${registry.file} is invalid: not valid JSON`),
    });

    // Repaired by hand: the change applies at once, the revoked device is disconnected.
    const disconnected = new Promise<void>((resolve) => device.once('close', () => resolve()));
    await writeFile(registry.file, '{"authentication": "on", "devices": []}');
    await disconnected;
    device.end(true);
    const summary = await platform.stop();
    expect(invalid()).toHaveLength(1);
    expect(lines.filter((l) => l === `device registry ${registry.file} is valid again`)).toHaveLength(1);
    expect(summary.datasets.air_quality).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });
  });
});

describe('the authentication mode’s file', () => {
  it('that is invalid stops `dev` before its broker listens, naming the file', async () => {
    const dataDir = await tempDir();
    await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-mode');
    await writeFile(modeFile(dataDir), '{"authentication": "maybe"}');
    const port = await freePort();
    const dev = await cli(['dev', '--no-simulate', '--port', String(port), '--duration', '30', '--data-dir', dataDir]);
    expect(dev.code).toBe(1);
    expect(dev.stderr).toContain(`authentication mode ${modeFile(dataDir)} is invalid: authentication:`);
    expect(dev.stderr).not.toContain('MQTT broker listening');
    expect(await listening(port)).toBe(false);
  });

  it('that disappears under a running broker leaves authentication on, reported once; only an explicit off switches it off', async () => {
    const dataDir = await tempDir();
    await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-gone');
    const lines: string[] = [];
    const platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, log: (l) => lines.push(l) });
    const url = `mqtt://127.0.0.1:${platform.port}`;
    await rm(modeFile(dataDir));
    await until(() => lines.some((l) => l.startsWith(`authentication mode ${modeFile(dataDir)} is gone; the broker keeps authentication on`)), 'the broker to notice');
    await expect(mqtt.connectAsync(url, { clientId: 'anyone', reconnectPeriod: 0 })).rejects.toThrow(/Bad username or password/i);

    expect((await cli(['sensors', 'auth', 'off', '--local', '--data-dir', dataDir])).code).toBe(0);
    await until(() => lines.some((l) => l.startsWith('device authentication is now off')), 'the broker to switch authentication off');
    await (await mqtt.connectAsync(url, { clientId: 'anyone', reconnectPeriod: 0 })).endAsync();
    await platform.stop();
    expect(lines.filter((l) => l.includes(`${modeFile(dataDir)} is gone`))).toHaveLength(1);
    expect(JSON.parse(await readFile(modeFile(dataDir), 'utf8'))).toEqual({ authentication: 'off' });
  });

  it('is written by the first change of a data dir that kept the mode in devices.json, and stays on with the last device revoked', async () => {
    const dataDir = await tempDir();
    const registry = DeviceRegistry.of(dataDirLayout(dataDir));
    await registry.register('air_quality', 'aq-old');
    const stored = JSON.parse(await readFile(registry.file, 'utf8'));
    await writeFile(registry.file, JSON.stringify({ authentication: 'on', devices: stored.devices }));
    await rm(modeFile(dataDir));
    expect(await registry.status()).toEqual({ authentication: 'on', devices: 1 });

    expect(await registry.revoke('air_quality', 'aq-old')).toBe(true);
    expect(JSON.parse(await readFile(modeFile(dataDir), 'utf8'))).toEqual({ authentication: 'on' });
    expect(JSON.parse(await readFile(registry.file, 'utf8'))).toEqual({ devices: [] });
    expect(await registry.status()).toEqual({ authentication: 'on', devices: 0 });
  });
});
