/**
 * `datastroom dev` as it shows itself and lives beside the other commands:
 * log lines stay above the live table (a screen emulator replays what a
 * terminal would show), the table fits narrow terminals, messages that reach
 * no dataset are reported, registering a device while the demo fleet runs
 * locks nobody out, and Ctrl+C stops it (a second one at once).
 */
import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { registry } from '../../datasets/index.ts';
import { TopicCounts } from '../../local/ingest.ts';
import { ProgressDisplay, progressLines, type ProgressSource } from '../../local/progress.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import { RunStats } from '../../local/stats.ts';
import { until } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { freePort } from '../helpers/net.ts';

const BIN = resolve(import.meta.dirname, '../../bin/datastroom.mjs');
const run = promisify(execFile);

/** A terminal of fixed width that understands what the display writes: newlines, \r, cursor up (ESC[nA), clear to end (ESC[J, ESC[2K). */
class Screen {
  readonly isTTY = true;
  readonly lines: string[] = [''];
  private row = 0;
  private col = 0;
  constructor(readonly columns: number) {}

  write(text: string): boolean {
    for (let i = 0; i < text.length; i++) {
      const ch = text[i] as string;
      if (ch === '\x1b') {
        const m = new RegExp(`^${String.fromCharCode(27)}\\[(\\d*)([AJK])`).exec(text.slice(i));
        if (!m) throw new Error(`unexpected escape ${JSON.stringify(text.slice(i, i + 6))}`);
        const n = m[1] === '' || m[1] === undefined ? 1 : Number(m[1]);
        if (m[2] === 'A') this.row = Math.max(0, this.row - n);
        if (m[2] === 'J') {
          this.lines.splice(this.row + 1);
          this.lines[this.row] = (this.lines[this.row] ?? '').slice(0, this.col);
        }
        if (m[2] === 'K') this.lines[this.row] = '';
        i += m[0].length - 1;
      } else if (ch === '\r') {
        this.col = 0;
      } else if (ch === '\n') {
        this.row += 1;
        this.col = 0;
        if (this.lines.length <= this.row) this.lines.push('');
      } else {
        if (this.col >= this.columns) throw new Error(`line wider than ${this.columns} columns: ${this.lines[this.row]}`);
        const line = (this.lines[this.row] ?? '').padEnd(this.col);
        this.lines[this.row] = line.slice(0, this.col) + ch + line.slice(this.col + 1);
        this.col += 1;
      }
    }
    return true;
  }
}

function source(): ProgressSource {
  const stats = new RunStats();
  stats.record({ datasetId: 'air_quality', received: 12, curated: 10, quarantined: 1, duplicates: 1 } as never);
  const unrouted = new TopicCounts();
  unrouted.add('datastroom/air_qualty/aq-1');
  return { stats, arrivals: new Map([['air_quality', 12]]), backlog: 0, published: 12, unrouted };
}

describe('the progress display', () => {
  it('prints every log line above the table, where later redraws leave it', () => {
    const screen = new Screen(100);
    const display = new ProgressDisplay(screen);
    display.log('MQTT broker listening on mqtt://127.0.0.1:1883');
    display.start(source());
    display.log('device authentication is now on: 1 registered device');
    display.stop();
    display.log('stopping: flushing buffers and transforming what is left (Ctrl+C again to exit at once)');
    display.log('refused connection from "rogue": not a registered device');
    const text = screen.lines.join('\n');
    for (const line of ['MQTT broker listening', 'device authentication is now on', 'stopping: flushing buffers', 'refused connection from "rogue"']) {
      expect(text).toContain(line);
    }
    // The table is drawn once at the bottom, after the log lines written before it stopped.
    expect(screen.lines.filter((l) => l.startsWith('dataset')).length).toBe(1);
    expect(text.indexOf('device authentication is now on')).toBeLessThan(text.indexOf('dataset'));
    expect(text).toContain('unrouted (no such dataset) 1: datastroom/air_qualty/aq-1 1');
  });

  it.each([80, 60, 40])('fits a %i-column terminal, every dataset on its own line', (width) => {
    const screen = new Screen(width);
    const display = new ProgressDisplay(screen);
    display.start(source());
    display.log('a line');
    display.stop();
    const lines = progressLines(source(), 3, 12, width - 1);
    expect(lines.every((l) => l.length <= width - 1)).toBe(true);
    for (const dataset of registry) expect(lines.some((l) => l.startsWith(dataset.id.slice(0, 5)))).toBe(true);
    expect(screen.lines.filter((l) => /^air_q\S*\s+12\s+12\s+10\s+1\s+1$/.test(l)), screen.lines.join('\n')).toHaveLength(1);
  });

  it('passes log lines through as lines when not on a terminal', () => {
    const written: string[] = [];
    const display = new ProgressDisplay({ write: (t: string) => written.push(t), isTTY: false });
    display.start(source());
    display.log('stopping: flushing buffers');
    display.stop();
    expect(written[0]).toBe('stopping: flushing buffers\n');
    expect(written.join('')).not.toContain('\x1b');
  });
});

describe('messages that reach no dataset', () => {
  it('are reported as they first arrive and counted, per topic, while dev runs', async () => {
    const logs: string[] = [];
    const platform = await startLocalPlatform({ dataDir: await tempDir(), port: 0, simulate: false, log: (l) => logs.push(l) });
    try {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'stray' });
      await client.publishAsync('sensors/air/aq-1', '{"pm25":1}', { qos: 1 });
      await client.publishAsync('sensors/air/aq-1', '{"pm25":2}', { qos: 1 });
      await client.publishAsync('datastroom/air_qualty/aq-1', '{"pm25":1}', { qos: 1 });
      await client.endAsync();
      expect(platform.ingest.outside.total).toBe(2);
      expect(platform.ingest.unrouted.total).toBe(1);
      expect(logs.filter((l) => l.includes('"sensors/air/aq-1" ignored: not a Datastroom topic'))).toHaveLength(1);
      expect(logs).toContainEqual(expect.stringMatching(/"datastroom\/air_qualty\/aq-1" unrouted: it names no dataset \("air_qualty", did you mean air_quality\?\)/));
    } finally {
      const summary = await platform.stop();
      expect(summary.unrouted).toBe(1);
    }
  });
});

describe('dev beside the other commands', () => {
  it('keeps the demo fleet publishing after a device is registered, and stops on Ctrl+C', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'dev', '--port', String(port), '--sensors', '7', '--interval-ms', '100', '--flush-ms', '300', '--summary-json', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      await until(() => err.includes('MQTT broker listening'), 'dev to start', () => (child.exitCode !== null ? err : undefined));
      // The hints name the data dir in use, so they work as printed.
      await until(() => err.includes('at a glance'), 'the hints');
      expect(err).toContain(`npx datastroom query "select count(*) from air_quality" --data-dir ${dataDir}`);
      await run(process.execPath, [BIN, 'sensors', 'register', '--local', 'air_quality', 'aq-own', '--port', String(port), '--data-dir', dataDir]);
      await until(() => err.includes('device authentication is now on'), 'authentication to switch on');
      const registeredAt = err.length;
      // Readings keep arriving and being curated after the switch: the fleet was not locked out.
      await new Promise((r) => setTimeout(r, 1500));
      expect(err.slice(registeredAt)).not.toMatch(/refused/);
      child.kill('SIGINT');
      // A safety net, not a timing assertion: a stop that hangs fails here instead of at the test's timeout.
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 20_000))]);
      expect(code).toBe(0);
      expect(err).toContain('stopping: flushing buffers');
      const summary = JSON.parse(out.trim().split('\n').at(-1)!) as { published: number; received: number; curated: number };
      expect(summary.received).toBe(summary.published);
      expect(summary.curated).toBeGreaterThan(0);
      const { stdout } = await run(process.execPath, [BIN, 'query', "select count(*) as n from air_quality where received_at > now() - interval 1 minute", '--format', 'csv', '--data-dir', dataDir]);
      expect(Number(stdout.split('\n')[1])).toBeGreaterThan(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  });

  it('exits at once on a second Ctrl+C', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'dev', '--no-simulate', '--port', String(port), '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      await until(() => err.includes('MQTT broker listening'), 'dev to start', () => (child.exitCode !== null ? err : undefined));
      child.kill('SIGINT');
      child.kill('SIGINT');
      const code = await exited;
      expect([0, 130]).toContain(code);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
