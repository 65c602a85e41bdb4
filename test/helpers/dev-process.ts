import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { RunSummary } from '../../local/stats.ts';
import { freePort } from './net.ts';

const BIN = resolve(import.meta.dirname, '../../bin/datastroom.mjs');

/**
 * Waits until `condition` holds, checking often. `failure` may give a reason
 * to stop waiting; a number is a safety timeout in ms instead. Without either,
 * the test's own timeout bounds the wait.
 */
export async function until(condition: () => boolean, what: string, failure?: (() => string | undefined) | number): Promise<void> {
  const deadline = typeof failure === 'number' ? Date.now() + failure : Infinity;
  while (!condition()) {
    const reason = typeof failure === 'function' ? failure() : Date.now() > deadline ? `timed out after ${String(failure)} ms` : undefined;
    if (reason) throw new Error(`while waiting for ${what}: ${reason}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A `datastroom dev` child process. */
export interface DevProcess {
  readonly port: number;
  /** Its process id (for a kill -9). */
  readonly pid: number;
  /** Its exit status. */
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** Why it can no longer answer (it exited), or undefined while it runs. */
  gone(): string | undefined;
  /** Asks it to stop, as Ctrl+C does. */
  interrupt(): void;
  /** Kills it if it still runs (cleanup after a failed test) and waits for its exit. */
  kill(): Promise<void>;
  /** The summary `--summary-json` printed as the last line. */
  summary(): RunSummary;
}

/**
 * Starts `datastroom dev --no-simulate --summary-json` on a free port and waits
 * until its broker listens. It runs under `sh -c`, so a shell prefix (such as
 * `ulimit -f N && `) applies to it alone.
 */
export async function startDev(dataDir: string, args: readonly string[] = [], shellPrefix = ''): Promise<DevProcess> {
  const port = await freePort();
  const argv = [BIN, 'dev', '--no-simulate', '--port', String(port), '--summary-json', '--data-dir', dataDir, ...args];
  const child = spawn('sh', ['-c', `${shellPrefix}exec "$0" "$@"`, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await until(
    () => err.includes('MQTT broker listening'),
    'dev to start',
    () => (child.exitCode !== null ? `dev exited with ${child.exitCode}:\n${err}` : undefined),
  );
  return {
    port,
    pid: child.pid ?? 0,
    exited,
    stdout: () => out,
    stderr: () => err,
    gone: () => (child.exitCode !== null || child.signalCode !== null ? `dev exited (${child.exitCode ?? child.signalCode}):\n${err}` : undefined),
    interrupt: () => child.kill('SIGINT'),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    summary: (): RunSummary => JSON.parse(out.trim().split('\n').at(-1) ?? ''),
  };
}
