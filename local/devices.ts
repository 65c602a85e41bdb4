import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { findDataset, getDataset } from '../datasets/index.ts';
import { sensorIdProblem } from '../functions/core/reading.ts';
import type { DataDirLayout } from './data-dir.ts';
import { withStateLock, writeFileAtomic } from './state-file.ts';

/** A device the local broker lets in: the local counterpart of a thing with its certificate. */
export interface Device {
  readonly sensorId: string;
  readonly datasetId: string;
}

/**
 * Whether the local broker authenticates devices. An explicit, stored mode:
 * registering a device switches it on, and only `sensors auth off` switches
 * it off again; revoking devices never does.
 */
export type AuthenticationMode = 'on' | 'off';

/** What a client proved at CONNECT: who it is, and with which credential. */
export interface Credential {
  readonly device: Device;
  /** The registered hash, or this run's token of a demo sensor: a changed or revoked credential no longer matches. */
  readonly proof: string;
}

const StoredDevice = z.object({
  sensorId: z.string(),
  datasetId: z.string(),
  hash: z.string(),
  registeredAt: z.string(),
});
type StoredDevice = z.infer<typeof StoredDevice>;

const StoredFile = z.object({
  /** Absent in files written before the mode was stored: then on if any device is registered. */
  authentication: z.enum(['on', 'off']).optional(),
  devices: z.array(StoredDevice),
});

/** A sensor id or dataset the registry refuses; nothing was written. */
export class DeviceRegistrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceRegistrationError';
  }
}

/** The devices file cannot be used: it names the file and what is wrong with it. */
export class DevicesFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`device registry ${file} is invalid: ${problem} (correct it, or move it away and register the devices again)`);
    this.name = 'DevicesFileError';
  }
}

/** Too many password checks are waiting: the broker answers "server unavailable" and the client retries. */
export class PasswordChecksBusyError extends Error {
  constructor() {
    super('too many password checks waiting');
    this.name = 'PasswordChecksBusyError';
  }
}

/** scrypt parameters of new hashes (and of the stand-in hash an unknown username is checked against). */
export const SCRYPT = Object.freeze({ N: 16_384, r: 8, p: 1, keylen: 32 });

/**
 * Password checks run one at a time on libuv's thread pool, never on the
 * event loop, and leave the pool's other threads to the ingest's file writes;
 * beyond `queue` waiting checks a client is turned away at once.
 */
export const PASSWORD_CHECKS = Object.freeze({ concurrency: 1, queue: 64 });

interface ScryptHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function deriveKey(password: Buffer | string, hash: Pick<ScryptHash, 'N' | 'r' | 'p' | 'salt'>, keylen: number): Promise<Buffer> {
  const options: ScryptOptions = { N: hash.N, r: hash.r, p: hash.p, maxmem: 256 * hash.N * hash.r * hash.p };
  return new Promise((resolve, reject) => {
    scrypt(password, hash.salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await deriveKey(password, { ...SCRYPT, salt }, SCRYPT.keylen);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A stored hash's parameters, or what is wrong with it (a hand-edited N of 2^30 would stall every check). */
function parseHash(text: string): ScryptHash | string {
  const [scheme, n, r, p, salt, hash, ...rest] = text.split('$');
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined || rest.length > 0) {
    return 'is not scrypt$N$r$p$salt$hash';
  }
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  if (!Number.isInteger(N) || N < 1024 || N > 65_536 || (N & (N - 1)) !== 0) return `has N ${n}: a power of two from 1024 to 65536`;
  if (!Number.isInteger(R) || R < 1 || R > 16) return `has r ${r}: 1 to 16`;
  if (!Number.isInteger(P) || P < 1 || P > 4) return `has p ${p}: 1 to 4`;
  if (!BASE64.test(salt) || !BASE64.test(hash)) return 'has a salt or hash that is not base64';
  const parsed = { N, r: R, p: P, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
  if (parsed.salt.length < 8) return 'has a salt shorter than 8 bytes';
  if (parsed.hash.length < 16 || parsed.hash.length > 64) return 'has a hash that is not 16 to 64 bytes';
  return parsed;
}

/** One registered device as held in memory, its hash parsed once. */
interface Registered extends StoredDevice {
  readonly parsed: ScryptHash;
}

/** The contents of the devices file, checked. */
interface RegistryState {
  readonly authentication: AuthenticationMode;
  readonly devices: ReadonlyMap<string, Registered>;
}

const EMPTY: RegistryState = { authentication: 'off', devices: new Map() };

function describePath(path: readonly PropertyKey[]): string {
  const text = path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('').replace(/^\./, '');
  return text === '' ? 'the top level' : text;
}

/** Parses and checks the devices file's text; throws a DevicesFileError naming the file and the problem. */
function parseState(file: string, text: string): RegistryState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DevicesFileError(file, `not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = StoredFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DevicesFileError(file, issue ? `${describePath(issue.path)}: ${issue.message}` : 'unexpected content');
  }
  const devices = new Map<string, Registered>();
  parsed.data.devices.forEach((device, i) => {
    const where = `devices[${i}]`;
    const idProblem = sensorIdProblem(device.sensorId);
    if (idProblem) throw new DevicesFileError(file, `${where}.sensorId: ${idProblem}`);
    if (!findDataset(device.datasetId)) throw new DevicesFileError(file, `${where}.datasetId: no dataset ${JSON.stringify(device.datasetId)} in the register`);
    if (devices.has(device.sensorId)) throw new DevicesFileError(file, `${where}.sensorId: ${device.sensorId} is registered twice`);
    const hash = parseHash(device.hash);
    if (typeof hash === 'string') throw new DevicesFileError(file, `${where}.hash ${hash}`);
    devices.set(device.sensorId, { ...device, parsed: hash });
  });
  return { authentication: parsed.data.authentication ?? (devices.size > 0 ? 'on' : 'off'), devices };
}

function serialize(state: RegistryState): string {
  const devices = [...state.devices.values()].map(({ sensorId, datasetId, hash, registeredAt }) => ({ sensorId, datasetId, hash, registeredAt }));
  return JSON.stringify({ authentication: state.authentication, devices }, null, 2) + '\n';
}

function errno(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** Runs tasks with bounded concurrency and a bounded queue. */
class TaskGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) throw new PasswordChecksBusyError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}

/** Checks a dataset id and a sensor id the way IoT Core would; throws before anything is written. */
export function checkDeviceIds(datasetId: string, sensorId: string): Device {
  const dataset = getDataset(datasetId);
  const problem = sensorIdProblem(sensorId);
  if (problem) throw new DeviceRegistrationError(problem);
  return { sensorId, datasetId: dataset.id };
}

/** Options of a {@link DeviceRegistry}. */
export interface DeviceRegistryOptions {
  /** Where a devices file that turned invalid while watched is reported. @default - standard error */
  readonly log?: (line: string) => void;
  /** How often a watched file is checked for changes, besides file system events. @default 500 */
  readonly pollMs?: number;
}

/**
 * The devices registered with the local platform and the authentication
 * mode, in `<data-dir>/state/devices.json`. Credentials are stored as scrypt
 * hashes, never in clear. Every change is a locked read-modify-write that
 * replaces the file atomically, so concurrent `sensors` commands never lose
 * one another's changes. A running platform watches the file: changes take
 * effect at once, and a file that turns invalid is reported once while the
 * last good state stays in force.
 */
export class DeviceRegistry {
  private state: RegistryState = EMPTY;
  private readonly ephemeral = new Map<string, { device: Device; digest: Buffer; proof: string }>();
  private readonly listeners = new Set<() => void>();
  private readonly checks = new TaskGate(PASSWORD_CHECKS.concurrency, PASSWORD_CHECKS.queue);
  /** Unknown usernames are checked against this, at the same cost as a registered one. */
  private readonly standIn: ScryptHash = { ...SCRYPT, salt: randomBytes(16), hash: randomBytes(SCRYPT.keylen) };
  private readonly log: (line: string) => void;
  private watching: { watcher?: FSWatcher; timer: NodeJS.Timeout } | undefined;
  private seen: string | undefined;
  private invalid = false;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  /** scrypt derivations run to check passwords, whatever their outcome. */
  passwordChecks = 0;

  constructor(
    readonly file: string,
    private readonly options: DeviceRegistryOptions = {},
  ) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  static of(layout: DataDirLayout, options?: DeviceRegistryOptions): DeviceRegistry {
    return new DeviceRegistry(join(layout.state, 'devices.json'), options);
  }

  /** Reads the file now; an absent file is no device and authentication off. Throws DevicesFileError. */
  private async load(): Promise<{ state: RegistryState; text: string | undefined }> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if (errno(error) === 'ENOENT') return { state: EMPTY, text: undefined };
      throw new DevicesFileError(this.file, `cannot be read (${errno(error) ?? String(error)})`);
    }
    return { state: parseState(this.file, text), text };
  }

  /** Applies a change under the file's lock; returns what `change` returned. */
  private async update<T>(change: (state: RegistryState) => { next?: RegistryState; result: T }): Promise<T> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const result = await withStateLock(this.file, async () => {
      const { state } = await this.load();
      const outcome = change(state);
      if (outcome.next) await writeFileAtomic(this.file, serialize(outcome.next));
      return outcome.result;
    });
    if (this.watching) await this.refresh();
    return result;
  }

  /**
   * Registers a device (again: a new password) and returns its password,
   * shown once and stored only as a hash. Switches authentication on.
   */
  async register(datasetId: string, sensorId: string): Promise<{ device: Device; password: string; switchedOn: boolean }> {
    const device = checkDeviceIds(datasetId, sensorId);
    const password = randomBytes(18).toString('base64url');
    // Hashed before the lock is taken: other commands wait for file work only.
    const hash = await hashPassword(password);
    const parsed = parseHash(hash);
    if (typeof parsed === 'string') throw new Error(`a new hash ${parsed}`);
    return this.update((state) => {
      const existing = state.devices.get(sensorId);
      if (existing && existing.datasetId !== device.datasetId) {
        throw new DeviceRegistrationError(`sensor ${sensorId} is already registered for dataset ${existing.datasetId}`);
      }
      const devices = new Map(state.devices);
      devices.set(sensorId, { ...device, hash, registeredAt: new Date().toISOString(), parsed });
      return { next: { authentication: 'on', devices }, result: { device, password, switchedOn: state.authentication === 'off' } };
    });
  }

  /** Removes a device; true if it was registered. Authentication stays as it is, even with no device left. */
  async revoke(datasetId: string, sensorId: string): Promise<boolean> {
    checkDeviceIds(datasetId, sensorId);
    return this.update((state) => {
      if (state.devices.get(sensorId)?.datasetId !== datasetId) return { result: false };
      const devices = new Map(state.devices);
      devices.delete(sensorId);
      return { next: { authentication: state.authentication, devices }, result: true };
    });
  }

  /** Switches authentication on or off; returns the mode it had. */
  async setAuthentication(mode: AuthenticationMode): Promise<AuthenticationMode> {
    return this.update((state) => ({
      next: state.authentication === mode ? undefined : { authentication: mode, devices: state.devices },
      result: state.authentication,
    }));
  }

  /** The stored mode and the number of registered devices, read from the file now. */
  async status(): Promise<{ authentication: AuthenticationMode; devices: number }> {
    const { state } = await this.load();
    return { authentication: state.authentication, devices: state.devices.size };
  }

  /** Registered devices, optionally of one dataset, read from the file now. */
  async list(datasetId?: string): Promise<Device[]> {
    const { state } = await this.load();
    return [...state.devices.values()]
      .filter((d) => datasetId === undefined || d.datasetId === datasetId)
      .map(({ sensorId, datasetId: ds }) => ({ sensorId, datasetId: ds }));
  }

  /**
   * Loads the file, refusing an invalid one (DevicesFileError), and from then
   * on follows its changes until {@link close}.
   */
  async open(): Promise<void> {
    const { state, text } = await this.load();
    this.state = state;
    this.seen = text;
    const timer = setInterval(() => void this.refresh(), this.options.pollMs ?? 500);
    timer.unref();
    let watcher: FSWatcher | undefined;
    try {
      // Events make changes prompt; the poll covers file systems without them.
      watcher = watch(dirname(this.file), (_event, name) => {
        if (name === basename(this.file)) void this.refresh();
      });
      watcher.on('error', () => watcher?.close());
      watcher.unref();
    } catch {
      watcher = undefined;
    }
    this.watching = { watcher, timer };
  }

  /** Stops following the file. */
  close(): void {
    if (!this.watching) return;
    clearInterval(this.watching.timer);
    this.watching.watcher?.close();
    this.watching = undefined;
  }

  /** Calls `listener` after every change of the mode or the devices in force; returns a function that stops it. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the file again if it changed; keeps the last good state while it is invalid. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        await this.refreshOnce();
      } while (this.refreshAgain);
    })().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async refreshOnce(): Promise<void> {
    let text: string;
    try {
      // Small enough to read whole: a changed file is told by its content, not by times.
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      // Removed or unreadable while running: the devices in force stay in force.
      if (this.seen !== undefined && !this.invalid) {
        this.invalid = true;
        this.log(`device registry ${this.file} cannot be read (${errno(error) ?? String(error)}); the broker keeps the devices and the mode it had`);
      }
      return;
    }
    if (text === this.seen) return;
    let next: RegistryState;
    try {
      next = parseState(this.file, text);
    } catch (error) {
      if (!this.invalid) {
        this.invalid = true;
        this.log(`${error instanceof Error ? error.message : String(error)}; the broker keeps the devices and the mode it had`);
      }
      return;
    }
    if (this.invalid) this.log(`device registry ${this.file} is valid again`);
    this.invalid = false;
    this.seen = text;
    this.state = next;
    for (const listener of this.listeners) listener();
  }

  /** The mode in force. */
  get authentication(): AuthenticationMode {
    return this.state.authentication;
  }

  /** Whether the broker lets in devices only. */
  get enforcing(): boolean {
    return this.state.authentication === 'on';
  }

  /** Registered devices in force. */
  get registered(): number {
    return this.state.devices.size;
  }

  /**
   * Adds a device for this process only (the demo fleet), with a random
   * password it returns. Kept in memory, never written; let in whatever the mode.
   */
  addEphemeral(datasetId: string, sensorId: string): string {
    const device = checkDeviceIds(datasetId, sensorId);
    const password = randomBytes(18).toString('base64url');
    const proof = `run:${randomBytes(8).toString('hex')}`;
    this.ephemeral.set(sensorId, { device, digest: createHash('sha256').update(password).digest(), proof });
    return password;
  }

  /**
   * The credential a username and password prove, or undefined. Every
   * refusal costs one scrypt derivation with the same parameters, whether
   * the username is registered or not, so the time taken tells nothing.
   * Throws PasswordChecksBusyError when too many checks wait.
   */
  async verify(username: string, password: Buffer): Promise<Credential | undefined> {
    const run = this.ephemeral.get(username);
    // The demo fleet's passwords are random and never stored: a digest suffices. A wrong
    // one falls through to the same check as any other username.
    if (run && timingSafeEqual(createHash('sha256').update(password).digest(), run.digest)) {
      return { device: run.device, proof: run.proof };
    }
    const registered = this.state.devices.get(username);
    const against = registered?.parsed ?? this.standIn;
    const matches = await this.checks.run(async () => {
      this.passwordChecks += 1;
      const actual = await deriveKey(password, against, against.hash.length);
      return timingSafeEqual(actual, against.hash);
    });
    return registered && matches ? { device: { sensorId: registered.sensorId, datasetId: registered.datasetId }, proof: registered.hash } : undefined;
  }

  /** Whether a credential still holds: its device is not revoked nor registered again since. */
  allows(credential: Credential): boolean {
    const { sensorId, datasetId } = credential.device;
    const run = this.ephemeral.get(sensorId);
    if (run?.proof === credential.proof) return true;
    const registered = this.state.devices.get(sensorId);
    return registered?.hash === credential.proof && registered.datasetId === datasetId;
  }
}

/** Writes a device's local credentials where only its owner can read them. */
export async function writeLocalCredentials(
  dir: string,
  credentials: { device: Device; password: string; host: string; port: number; topic: string },
): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'credentials.json');
  const { device, password, host, port, topic } = credentials;
  await writeFile(
    file,
    JSON.stringify({ clientId: device.sensorId, username: device.sensorId, password, host, port, topic, dataset: device.datasetId }, null, 2) + '\n',
    { mode: 0o600 },
  );
  return file;
}

