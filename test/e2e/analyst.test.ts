/**
 * datastroom as an analyst uses it, through the real command: answers of
 * any size, pipes that close early, no silent emptiness, exports Excel and
 * DuckDB read, a database file for BI tools, status at a glance, and a
 * command line that helps.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import readXlsxFile from 'read-excel-file/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../datasets/index.ts';
import { allViews } from '../../glue/views.ts';
import { seededDataDir } from '../helpers/data-dir.ts';
import { tempDir } from '../helpers/fixtures.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/datastroom.mjs');
const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Runs the CLI with its output piped into a shell command (tail, head); samples the CLI's peak resident memory (VmHWM) while it runs. */
async function pipeline(args: string[], reader: string): Promise<{ code: number | null; stdout: string; stderr: string; peakRssKb: number }> {
  const tailed = spawn('sh', ['-c', reader], { stdio: ['pipe', 'pipe', 'inherit'] });
  // The CLI writes straight into the reader's pipe, as in a shell: when head exits, the CLI meets the closed pipe.
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', tailed.stdin, 'pipe'] });
  tailed.stdin.destroy();
  let stdout = '';
  let stderr = '';
  let peak = 0;
  tailed.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const sampler = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8').then(
      (status) => (peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0))),
      () => undefined,
    );
  }, 25);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearInterval(sampler);
  await new Promise((r) => (tailed.exitCode !== null ? r(undefined) : tailed.on('close', r)));
  return { code, stdout, stderr, peakRssKb: peak };
}

describe('answers of any size', () => {
  let empty: string;
  beforeAll(async () => {
    empty = await tempDir('datastroom-empty-', 'file');
  });

  it('writes 130,000 rows as CSV (no stack overflow), each row once', async () => {
    const { code, stdout } = await cli(['query', 'select range as n from range(130000)', '--format', 'csv', '--data-dir', empty]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(130_001);
    expect(lines.at(-1)).toBe('129999');
  });

  it('streams 5,000,000 rows into tail within 256 MB of resident memory', async () => {
    const result = await pipeline(['query', 'select * from range(5000000)', '--format', 'csv', '--data-dir', empty], 'tail -1');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('4999999\n');
    expect(result.peakRssKb).toBeGreaterThan(0);
    expect(result.peakRssKb).toBeLessThan(256 * 1024);
  }, 120_000);

  it('ends quietly when the reader closes the pipe (| head -3)', async () => {
    const result = await pipeline(['query', 'select * from range(1000000)', '--format', 'csv', '--data-dir', empty], 'head -3');
    expect(result.stdout).toBe('range\n0\n1\n');
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
  }, 60_000);

  it('shows the first rows of a large table and says how many there were', async () => {
    const { code, stdout } = await cli(['query', 'select range as n from range(250)', '--data-dir', empty]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2 + 100 + 1);
    expect(lines.at(-1)).toBe('(250 rows; the first 100 shown: --max-rows N shows more, --format csv or --output FILE gives all)');
    const all = await cli(['query', 'select range as n from range(250)', '--max-rows', '1000', '--data-dir', empty]);
    expect(all.stdout.trimEnd().split('\n').at(-1)).toBe('(250 rows)');
  });

  it('writes JSON as an array and JSON lines one object per line', async () => {
    const json = await cli(['query', 'select range as n, 0.1 + 0.2 as x from range(3)', '--format', 'json', '--data-dir', empty]);
    expect(JSON.parse(json.stdout)).toEqual([
      { n: 0, x: 0.3 },
      { n: 1, x: 0.3 },
      { n: 2, x: 0.3 },
    ]);
    const lines = await cli(['query', 'select range as n from range(2)', '--format', 'jsonl', '--data-dir', empty]);
    expect(lines.stdout).toBe('{"n":0}\n{"n":1}\n');
  });
});

describe('on a data dir the platform filled', () => {
  let dataDir: string;
  let out: string;
  beforeAll(async () => {
    ({ dataDir } = await seededDataDir());
    out = await tempDir('datastroom-exports-', 'file');
  }, 60_000);

  it('refuses a data dir that does not exist or is a file, instead of answering 0 rows', async () => {
    const missing = await cli(['query', 'select count(*) from air_quality', '--data-dir', join(out, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no data directory at .*nope \(it does not exist\): start the platform there first/);
    await writeFile(join(out, 'a-file'), 'x');
    const file = await cli(['query', 'select 1', '--data-dir', join(out, 'a-file')]);
    expect(file.code).toBe(1);
    expect(file.stderr).toMatch(/\(it is a file\)/);
  });

  it('names the tables there are when a query names one that is not', async () => {
    const result = await cli(['query', 'select * from air_qualty', '--data-dir', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no table or view named air_qualty \(did you mean air_quality\?\): the tables are the dataset ids \(air_quality, noise/);
  });

  it('reads --param the same way whether the date is quoted as on Athena or not', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const sql = 'select count(*) as n from air_quality where dt = ?';
    const plain = await cli(['query', sql, '--param', today, '--format', 'csv', '--data-dir', dataDir]);
    const quoted = await cli(['query', sql, '--param', `'${today}'`, '--format', 'csv', '--data-dir', dataDir]);
    expect(plain.stdout).toBe(quoted.stdout);
    expect(Number(plain.stdout.split('\n')[1])).toBeGreaterThanOrEqual(2);
  });

  it('shows instants with their zone in a table, and dt works with date arithmetic', async () => {
    const { code, stdout } = await cli(['query', "select ts, dt from air_quality where dt > current_date - 1 and sensor_id = 'aq-2'", '--data-dir', dataDir]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ts +\| dt\n/);
    expect(stdout).toMatch(/\n\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? UTC \| \d{4}-\d{2}-\d{2}\n\(1 row\)\n$/);
  });

  it('exports to Excel with typed cells: numbers as numbers, instants as dates', async () => {
    const file = join(out, 'air.xlsx');
    const { code, stderr } = await cli(['query', "select sensor_id, pm25, ts, dt from air_quality where sensor_id = 'aq-2'", '--output', file, '--data-dir', dataDir]);
    expect(code).toBe(0);
    expect(stderr).toMatch(/wrote 1 row to .*air\.xlsx \(xlsx\)/);
    const [sheet] = await readXlsxFile(file);
    const [header, row] = sheet!.data;
    expect(header).toEqual(['sensor_id', 'pm25', 'ts', 'dt']);
    expect(row![0]).toBe('aq-2');
    expect(row![1]).toBe(30);
    expect(row![2]).toBeInstanceOf(Date);
    const ts = row![2] as unknown as Date;
    expect(row![3]).toBeInstanceOf(Date);
    const json = JSON.parse((await cli(['query', "select ts from air_quality where sensor_id = 'aq-2'", '--format', 'json', '--data-dir', dataDir])).stdout) as { ts: string }[];
    expect(Math.abs(ts.getTime() - Date.parse(json[0]!.ts))).toBeLessThan(1000);
  });

  it('writes CSV for a Belgian Excel with --excel: BOM, semicolons, decimal commas', async () => {
    const file = join(out, 'air.csv');
    expect((await cli(['query', "select sensor_id, 12.5 as x from air_quality where sensor_id = 'aq-2'", '--output', file, '--excel', '--data-dir', dataDir])).code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('\uFEFFsensor_id;x\naq-2;12,5\n');
    const stdout = await cli(['query', 'select 1.5 as x, 2 as y', '--separator', ';', '--decimal', ',', '--format', 'csv', '--data-dir', dataDir]);
    expect(stdout.stdout).toBe('x;y\n1,5;2\n');
    expect((await cli(['query', 'select 1', '--decimal', ',', '--format', 'csv', '--data-dir', dataDir])).stderr).toMatch(/--decimal , needs another separator than ","/);
  });

  it('exports Parquet that DuckDB reads back with the same values', async () => {
    const file = join(out, 'air.parquet');
    expect((await cli(['query', 'select sensor_id, pm25, ts from air_quality order by ts', '--output', file, '--data-dir', dataDir])).code).toBe(0);
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    const reader = await conn.runAndReadAll(`SELECT sensor_id, pm25, typeof(ts) FROM '${file}' ORDER BY ts`);
    expect(reader.getRowsJson()).toEqual([
      ['aq-1', 10, 'TIMESTAMP WITH TIME ZONE'],
      ['aq-1', 20, 'TIMESTAMP WITH TIME ZONE'],
      ['aq-2', 30, 'TIMESTAMP WITH TIME ZONE'],
    ]);
    conn.closeSync();
    instance.closeSync();
  });

  it('writes a database file a separate DuckDB process opens read-only, answering as query does', async () => {
    const file = join(out, 'city.duckdb');
    const bi = await cli(['bi', file, '--data-dir', dataDir]);
    expect(bi.code).toBe(0);
    // A table and a quarantine view per dataset, the sensors table, and each dataset's derived views.
    const views = 2 * registry.length + 1 + allViews(registry).length;
    expect(bi.stdout).toMatch(new RegExp(`wrote .*city\\.duckdb: ${views} views over `));
    const sql = 'select sensor_id, count(*) as n, round(avg(pm25), 1) as pm25 from air_quality group by 1 order by 1';
    const expected = JSON.parse((await cli(['query', sql, '--format', 'json', '--data-dir', dataDir])).stdout);
    const script = `
      import { DuckDBInstance } from '@duckdb/node-api';
      const instance = await DuckDBInstance.create(process.argv[1], { access_mode: 'READ_ONLY' });
      const conn = await instance.connect();
      const reader = await conn.runAndReadAll(process.argv[2]);
      const names = reader.columnNames();
      process.stdout.write(JSON.stringify(reader.getRowsJson().map((r) => Object.fromEntries(r.map((v, i) => [names[i], typeof v === 'string' && /^\\d+$/.test(v) ? Number(v) : v])))));
      const views = await conn.runAndReadAll("select count(*) from duckdb_views() where not internal");
      process.stderr.write(String(views.getRowsJson()[0][0]));
    `;
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script, file, sql], { cwd: ROOT });
    expect(JSON.parse(stdout)).toEqual(expected);
    expect(stderr).toBe(String(views));
    // The quarantine is there too, with the hourly views.
    const { stdout: refused } = await run(process.execPath, ['--input-type=module', '-e', script, file, 'select reason from air_quality_quarantine'], { cwd: ROOT });
    expect(JSON.parse(refused)).toEqual([{ reason: 'pm25 must be a number, got string "12,5"' }]);
  });

  it('shows status at a glance: rows, last reading and its age, quarantine rate of the last 24 hours', async () => {
    const { code, stdout } = await cli(['status', '--format', 'json', '--data-dir', dataDir]);
    expect(code).toBe(0);
    const rows = JSON.parse(stdout) as Record<string, unknown>[];
    expect(rows.map((r) => r.dataset)).toEqual(['air_quality', 'noise', 'traffic_count', 'waste_fill', 'parking_occupancy', 'water_level', 'anpr_passage']);
    expect(rows[0]).toMatchObject({ dataset: 'air_quality', rows: 3, state: 'fresh', updates_every: '10 min', quarantined_24h: 1, quarantine_rate_24h: '25.0%' });
    expect(rows[1]).toMatchObject({ dataset: 'noise', rows: 0, last_reading: null, state: 'no data', quarantined_24h: 0, quarantine_rate_24h: null });
    const table = await cli(['status', '--data-dir', dataDir]);
    expect(table.stdout).toMatch(/^dataset +\| +rows \| last_reading/);
  });
});

describe('the command line', () => {
  it('suggests the option or command meant, with status 2', async () => {
    expect(await cli(['query', 'select 1', '--fromat', 'csv'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown option --fromat \(did you mean --format\?\)/) });
    expect(await cli(['quer', 'select 1'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "quer" \(did you mean query\?\)/) });
    expect(await cli(['query', 'select 1', '--format', 'cvs'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--format must be one of table, json, csv, jsonl, got "cvs" \(did you mean csv\?\)/) });
    expect(await cli(['sensors', 'regster'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown sensors command "regster" \(did you mean register\?\)/) });
  });

  it('refuses an invalid port with status 2 and a message instead of hanging', async () => {
    const result = await cli(['dev', '--port', '99999', '--data-dir', await tempDir()]);
    expect(result).toMatchObject({ code: 2, stderr: expect.stringMatching(/--port must be a whole number from 0 to 65535, got "99999"/) });
  });

  it('prints its version and a help per sensors subcommand', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `datastroom ${pkg.version}\n` });
    const register = await cli(['sensors', 'register', '--help']);
    const revoke = await cli(['sensors', 'revoke', '--help']);
    expect(register.stdout).toMatch(/^Usage: datastroom sensors register <datasetId> <sensorId>/);
    expect(revoke.stdout).toMatch(/^Usage: datastroom sensors revoke <datasetId> <sensorId>/);
  });

  it('runs from the build made once, not from the sources compiled on every run', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    const manifest = JSON.parse(await readFile(join(ROOT, 'dist/cli.json'), 'utf8')) as { dir: string; inputs: Record<string, unknown> };
    expect(Object.keys(manifest.inputs)).toEqual(expect.arrayContaining(['cli/main.ts', 'cli/commands/query.ts', 'local/query.ts']));
    const { currentBuild } = await import('../../bin/build.mjs');
    expect(currentBuild()).toBe(join(ROOT, 'dist', manifest.dir, 'main.mjs'));
  });
});
