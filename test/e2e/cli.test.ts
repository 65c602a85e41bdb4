import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { beforeAll, describe, expect, it } from 'vitest';
import { dataDirLayout } from '../../local/data-dir.ts';
import { brusselsIso } from '../../local/readings.ts';
import { fileTree, SEEDED_PLATE, seededDataDir } from '../helpers/data-dir.ts';
import { quarantineRecords, tempDir } from '../helpers/fixtures.ts';
import { freePort, hasCommand } from '../helpers/net.ts';

const BIN = resolve(import.meta.dirname, '../../bin/datastroom.mjs');
const run = promisify(execFile);

/** Runs the CLI to completion; never throws on a non-zero exit. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface DevProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/** Starts `datastroom dev` as a child process and waits until its broker listens. */
async function startDev(args: string[]): Promise<DevProcess> {
  const child = spawn(process.execPath, [BIN, 'dev', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + 30_000;
  while (!err.includes('MQTT broker listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`dev did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, exited, stdout: () => out, stderr: () => err };
}

async function quarantineReasons(dataDir: string): Promise<string[]> {
  return (await quarantineRecords<{ reason: string }>(dataDir)).map((r) => r.reason);
}

describe('the datastroom command', () => {
  it('prints the register as JSON with governance, retention and typed fields', async () => {
    const { code, stdout } = await cli(['datasets', '--json']);
    expect(code).toBe(0);
    const register = JSON.parse(stdout);
    expect(register).toHaveLength(7);
    const anpr = register.find((d: { id: string }) => d.id === 'anpr_passage');
    expect(anpr).toMatchObject({ classification: 'closed', personalData: ['plate'], retention: { rawDays: 7, curatedDays: 30, quarantineDays: 7 } });
    expect(anpr.fields.find((f: { name: string }) => f.name === 'plate')).toMatchObject({ type: 'string', personal: true });
  });

  it('answers SQL on an empty data dir: every dataset is a view, empty but typed', async () => {
    const dataDir = await tempDir();
    const { code, stdout } = await cli(['query', 'select count(*) as n, max(ts) as last from air_quality', '--format', 'json', '--data-dir', dataDir]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([{ n: 0, last: null }]);
  });

  it('refuses a bad command line with status 2 and says why', async () => {
    expect(await cli(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "frobnicate"/) });
    expect(await cli(['query', 'select 1', '--format', 'xml'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--format must be one of table, json, csv/) });
    expect(await cli(['dev', '--port', 'abc'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--port must be a whole number/) });
  });

  it('reports an SQL error with the engine’s message and status 1', async () => {
    const dataDir = await tempDir();
    const result = await cli(['query', 'select nope from air_quality', '--data-dir', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/nope/);
  });

  it('runs the demo fleet for a duration and prints a summary that accounts for every reading', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const { code, stdout } = await cli(['dev', '--duration', '3', '--sensors', '14', '--interval-ms', '200', '--port', String(port), '--flush-ms', '500', '--summary-json', '--data-dir', dataDir]);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(summary.received).toBe(summary.curated + summary.quarantined + summary.duplicates);
    expect(summary.received).toBe(summary.published);
    for (const counts of Object.values(summary.datasets) as { curated: number }[]) expect(counts.curated).toBeGreaterThan(0);
  });

  it.skipIf(!hasCommand('mosquitto_pub'))('curates what mosquitto_pub publishes and quarantines the rest, then answers through query', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const dev = await startDev(['--no-simulate', '--port', String(port), '--flush-ms', '300', '--summary-json', '--data-dir', dataDir]);
    const now = brusselsIso(new Date());
    const publish = (topic: string, message: string, qos = '1') =>
      run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', qos, '-t', topic, '-m', message]);
    await publish('datastroom/air_quality/sensor-1', `{"ts":"${now}","pm25":12.5,"pm10":20,"no2":31}`);
    await publish('datastroom/air_quality/sensor-2', `{"ts":"${now}","pm25":8,"pm10":14.5,"no2":22}`, '0');
    await publish('datastroom/air_quality/sensor-3', `[{"ts":"${now}","pm25":1,"pm10":2,"no2":3}]`);
    await publish('datastroom/air_quality/sensor-1', `{"ts":"${now}","pm25":"12,5","pm10":20,"no2":31}`);
    await publish('datastroom/air_quality/sensor-1', `{"pm25":12.5,"pm10":20,"no2":31}`);
    await publish('datastroom/air_quality/sensor-1', 'not json at all');
    dev.child.kill('SIGINT');
    expect(await dev.exited).toBe(0);
    const summary = JSON.parse(dev.stdout().trim().split('\n').at(-1)!);
    expect(summary.datasets.air_quality).toEqual({ received: 6, curated: 3, quarantined: 3, duplicates: 0 });

    const { stdout } = await cli(['query', 'select count(*) as n from air_quality', '--format', 'csv', '--data-dir', dataDir]);
    expect(stdout.trim()).toBe('n\n3');
    const reasons = await quarantineReasons(dataDir);
    expect(reasons).toHaveLength(3);
    expect(reasons).toEqual(expect.arrayContaining(['pm25 must be a number, got string "12,5"', 'ts is required', expect.stringMatching(/^payload is not valid JSON/)]));
  });

  it('loses no acknowledged message when killed with SIGKILL mid-stream: the next start recovers and curates it', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const dev = await startDev(['--no-simulate', '--port', String(port), '--flush-ms', '600000', '--data-dir', dataDir]);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'wl-crash', reconnectPeriod: 0 });
    client.on('error', () => undefined);
    const acked = new Set<number>();
    let published = 0;
    const total = 5000;
    let killed = false;
    const all = Array.from({ length: total }, (_, i) => i);
    // Publish with QoS 1 in windows of 50 in flight; kill the platform while messages are still going out.
    for (let start = 0; start < total && !killed; start += 50) {
      await Promise.allSettled(
        all.slice(start, start + 50).map((i) => {
          published += 1;
          return client
            .publishAsync('datastroom/water_level/wl-crash', JSON.stringify({ ts: brusselsIso(new Date()), level_cm: i }), { qos: 1 })
            .then(() => acked.add(i));
        }),
      );
      if (acked.size >= 500 && !killed) {
        killed = true;
        // More publishes are in flight at the moment of the kill.
        for (const i of all.slice(start + 50, start + 100)) {
          published += 1;
          void client.publishAsync('datastroom/water_level/wl-crash', JSON.stringify({ ts: brusselsIso(new Date()), level_cm: i }), { qos: 1 }).then(() => acked.add(i), () => undefined);
        }
        dev.child.kill('SIGKILL');
      }
    }
    await dev.exited;
    client.end(true);
    expect(killed).toBe(true);

    const restart = await cli(['dev', '--no-simulate', '--port', String(port), '--duration', '1', '--summary-json', '--data-dir', dataDir]);
    expect(restart.code).toBe(0);
    expect(restart.stderr).toMatch(/recovered raw\/water_level\//);
    const summary = JSON.parse(restart.stdout.trim().split('\n').at(-1)!);
    expect(summary.datasets.water_level.quarantined).toBe(0);
    const { stdout } = await cli(['query', 'select level_cm from water_level', '--format', 'json', '--data-dir', dataDir]);
    const curated = new Set((JSON.parse(stdout) as { level_cm: number }[]).map((r) => r.level_cm));
    // Every acknowledged message survived; any unacknowledged one either did or was never written.
    for (const i of acked) expect(curated.has(i), `acknowledged reading ${i}`).toBe(true);
    expect(curated.size).toBeLessThanOrEqual(published);
    expect(curated.size).toBe(summary.datasets.water_level.curated);
  });
});

describe('datastroom query on a data dir the platform filled', () => {
  let dataDir: string;
  let outside: string;
  beforeAll(async () => {
    ({ dataDir } = await seededDataDir());
    outside = await tempDir('datastroom-outside-', 'file');
  }, 60_000);
  const query = (sql: string, ...rest: string[]) => cli(['query', sql, '--format', 'json', '--data-dir', dataDir, ...rest]);

  it('answers from the dataset and hourly views, with --param values', async () => {
    const counts = await query('select sensor_id, count(*) as n from air_quality where pm25 > ? group by 1 order by 1', '--param', '15');
    expect(counts.code).toBe(0);
    expect(JSON.parse(counts.stdout)).toEqual([
      { sensor_id: 'aq-1', n: 1 },
      { sensor_id: 'aq-2', n: 1 },
    ]);
    const hourly = await query('select sum(readings) as n from air_quality_hourly where sensor_id = ?', '--param', 'aq-1');
    expect(JSON.parse(hourly.stdout)).toEqual([{ n: 2 }]);
  });

  it.each([
    ['a COPY behind a SELECT', (out: string) => `select 1; copy (select * from anpr_passage) to '${join(out, 'plates.csv')}'`, /^datastroom query: query runs one SELECT per call .*got 2 statements: run them one at a time$/m],
    ['a COPY into the curated zone', (_out: string, dir: string) => `copy (select 1) to '${join(dir, 'curated', 'x.csv')}'`, /not COPY: .*cannot write files/],
    ['an EXPORT', (out: string) => `export database '${join(out, 'db')}'`, /not EXPORT:/],
    ['an ATTACH', (out: string) => `attach '${join(out, 'w.duckdb')}' as w`, /not ATTACH:/],
    ['an INSTALL', () => 'install httpfs', /not INSTALL: .*install extensions$/m],
    ['a SET', () => 'set enable_external_access = true', /not SET:/],
    ['enable_logging', (_out: string, dir: string) => `select * from enable_logging(storage = 'file', storage_path = '${join(dir, 'quarantine', 'log.csv')}')`, /query may not call enable_logging\(\)/],
    ['the pseudonymisation key', (_out: string, dir: string) => `select * from read_text('${dataDirLayout(dir).keyFile}')`, /Permission Error[\s\S]*\nquery may only read the curated and quarantine zones: /],
    ['the raw zone', (_out: string, dir: string) => `select * from read_json('${join(dir, 'raw', '**', '*.jsonl')}')`, /Permission Error[\s\S]*\nquery may only read the curated and quarantine zones: /],
    ['/etc/passwd', () => "select * from read_text('/etc/passwd')", /Permission Error[\s\S]*\nquery may only read the curated and quarantine zones: /],
  ])('refuses %s with status 1, a clear message and nothing written', async (_name, sql, message) => {
    const before = await fileTree(dataDir);
    const outsideBefore = await fileTree(outside);
    const key = (await readFile(dataDirLayout(dataDir).keyFile, 'utf8')).trim();
    const result = await query(sql(outside, dataDir));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    for (const secret of [key, SEEDED_PLATE, 'root:']) expect(result.stderr).not.toContain(secret);
    expect(await fileTree(dataDir)).toEqual(before);
    expect(await fileTree(outside)).toEqual(outsideBefore);
  });

  it('says in its usage what it may read', async () => {
    const { code, stdout } = await cli(['query', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/reads the curated and quarantine zones and nothing else/);
  });
});
