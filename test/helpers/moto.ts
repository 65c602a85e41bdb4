/**
 * moto_server, the AWS emulator, on a free loopback port: started for a test
 * file, answering before it is handed out, and stopped with its whole process
 * group so nothing outlives the file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { freePort, hasCommand } from './net.ts';

/** Credentials for moto: it takes any access key; these say what they are for. */
export const MOTO_CREDENTIALS: { readonly accessKeyId: string; readonly secretAccessKey: string } = { accessKeyId: 'moto-rehearsal', secretAccessKey: 'moto-rehearsal' };

/** How to install the moto_server the rehearsal is written against; .ci/run says the same. */
export const MOTO_INSTALL = 'pip install "moto[server]==5.2.1"';

/** moto_server is missing or did not come up. */
export class MotoUnavailable extends Error {
  constructor(detail: string) {
    super(`moto_server: ${detail}`);
    this.name = 'MotoUnavailable';
  }
}

/** A running moto_server. */
export interface MotoServer {
  /** e.g. http://127.0.0.1:40123 */
  readonly endpoint: string;
  readonly region: string;
  /** What an AWS SDK v3 client needs to talk to it in-process. */
  readonly clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  /** The environment of a child process whose SDK clients should talk to it (and to nothing else). */
  env(extra?: Record<string, string>): Record<string, string>;
  /** A call to moto's own API (/moto-api/...), e.g. to queue Athena results. */
  api(path: string, body?: unknown): Promise<Response>;
  /** The last lines moto_server printed: its request log and any traceback. */
  log(): string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 30_000;

/** Starts moto_server on a free loopback port and waits until it answers. */
export async function startMoto(options: { /** @default 'eu-west-1' */ region?: string; /** @default 'moto_server' */ command?: string } = {}): Promise<MotoServer> {
  const command = options.command ?? 'moto_server';
  if (!hasCommand(command)) throw new MotoUnavailable(`${command} is not on the PATH; install it with ${MOTO_INSTALL}`);
  const region = options.region ?? 'eu-west-1';
  // Another process may take the free port before moto binds it: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    try {
      return await launch(command, port, region);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function launch(command: string, port: number, region: string): Promise<MotoServer> {
  const endpoint = `http://127.0.0.1:${port}`;
  // Its own process group: the pyenv shim, python and any thread die together.
  const child = spawn(command, ['-H', '127.0.0.1', '-p', String(port)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const killOnExit = () => killGroup(child, 'SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await untilAnswering(endpoint, child, output);
  } catch (error) {
    await stop();
    throw error;
  }
  // A fresh credentials object: the SDK marks the one it is given.
  const clientConfig = { endpoint, region, credentials: { ...MOTO_CREDENTIALS } };
  return {
    endpoint,
    region,
    clientConfig,
    env: (extra = {}) => ({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      TMPDIR: process.env.TMPDIR ?? '/tmp',
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      // No shared config or credentials file of the machine's user is read.
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      ...extra,
    }),
    api: (path, body) =>
      fetch(`${endpoint}/moto-api/${path.replace(/^\//, '')}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    log: () => output.join(''),
    stop,
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch (error) {
    // Already gone.
    if (!(error instanceof Error && 'code' in error && error.code === 'ESRCH')) throw error;
  }
}

async function untilAnswering(endpoint: string, child: ChildProcess, output: string[]): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new MotoUnavailable(`exited (${child.exitCode ?? child.signalCode}) before answering: ${output.join('').trim().slice(-2000)}`);
    }
    try {
      const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new MotoUnavailable(`no answer on ${endpoint} within ${STARTUP_TIMEOUT_MS / 1000} s: ${output.join('').trim().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
