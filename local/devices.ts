import { createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { findDataset, getDataset } from '../datasets/index.ts';
import { topicFor } from '../functions/core/envelope.ts';
import { integrationTopicFor, pushAuthorization, pushPathFor } from '../functions/core/integrations.ts';
import { sensorIdProblem } from '../functions/core/reading.ts';
import type { DataDirLayout } from './data-dir.ts';
import { stageFile, withStateLock, writeFileAtomic, type StagedFile } from './state-file.ts';

/** A device the local broker lets in: the local counterpart of a thing with its certificate. */
export interface Device {
  readonly sensorId: string;
  readonly datasetId: string;
  /**
   * Set for an integration (a gateway, a webhook sender): it delivers
   * payloads for the sensors behind it, over HTTP push or on its
   * integration topic, and its name stands where a device has its sensor id.
   * @default - a device publishing its own readings
   */
  readonly integration?: IntegrationRoute;
}

/** What an integration's deliveries declare beside its dataset. */
export interface IntegrationRoute {
  /** The format its payloads come in. @default - recognised from each payload */
  readonly format?: string;
}

/**
 * Whether the local broker authenticates devices. An explicit mode, stored
 * apart from the devices (`state/authentication.json`): registering a device
 * switches it on, and only `sensors auth off` switches it off again; revoking
 * devices, or losing the devices file, never does.
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
  integration: z.object({ format: z.string().optional() }).optional(),
});
type StoredDevice = z.infer<typeof StoredDevice>;

const StoredFile = z.object({
  /**
   * Where the mode was kept before it had a file of its own: read only while
   * that file does not exist yet, and no longer written.
   */
  authentication: z.enum(['on', 'off']).optional(),
  devices: z.array(StoredDevice),
});

const StoredMode = z.object({ authentication: z.enum(['on', 'off']) });

/** The file beside the devices file that holds the authentication mode. */
export const AUTHENTICATION_FILE = 'authentication.json';

/** A sensor id or dataset the registry refuses; nothing was written. */
export class DeviceRegistrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceRegistrationError';
  }
}

/** The devices file or the authentication mode's file cannot be used: it names the file and what is wrong with it. */
export class DevicesFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    const advice =
      basename(file) === AUTHENTICATION_FILE
        ? 'correct it to {"authentication": "on"} or {"authentication": "off"}, or write it anew with `sensors auth on --local` or `sensors auth off --local`'
        : `correct it, or move it away and register the devices again; moving it away does not switch authentication off (${AUTHENTICATION_FILE} beside it keeps the mode), so while it is on no registered device can connect until registered again`;
    super(`${basename(file) === AUTHENTICATION_FILE ? 'authentication mode' : 'device registry'} ${file} is invalid: ${problem} (${advice})`);
    this.name = 'DevicesFileError';
  }
}

/** A device's new credentials could not be written, or put in place; the message says what was registered. */
export class CredentialsWriteError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'CredentialsWriteError';
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
 * event loop, and leave the pool's other threads to the ingest's file writes.
 * Waiting checks are served in turn per source (a client's address), at
 * most `queuePerSource` of one source and `queue` in all; beyond that a
 * client is turned away at once.
 */
export const PASSWORD_CHECKS = Object.freeze({ concurrency: 1, queuePerSource: 8, queue: 256 });

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

/** The mode and the devices, checked. */
interface RegistryState {
  readonly authentication: AuthenticationMode;
  readonly devices: ReadonlyMap<string, Registered>;
}

const EMPTY: RegistryState = { authentication: 'off', devices: new Map() };

/** The devices file's content, checked; `legacyMode` is the mode it held before the mode had its own file. */
interface DevicesContent {
  readonly devices: ReadonlyMap<string, Registered>;
  readonly legacyMode: AuthenticationMode | undefined;
}

/** The mode when its file does not exist: as the devices file last said, or on once any device is registered. */
function modeWithoutFile(content: DevicesContent): AuthenticationMode {
  return content.legacyMode ?? (content.devices.size > 0 ? 'on' : 'off');
}

function describePath(path: readonly PropertyKey[]): string {
  const text = path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('').replace(/^\./, '');
  return text === '' ? 'the top level' : text;
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DevicesFileError(file, `not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** Parses and checks the mode file's text; throws a DevicesFileError naming the file and the problem. */
function parseMode(file: string, text: string): AuthenticationMode {
  const parsed = StoredMode.safeParse(parseJson(file, text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DevicesFileError(file, issue ? `${describePath(issue.path)}: ${issue.message}` : 'unexpected content');
  }
  return parsed.data.authentication;
}

/** Parses and checks the devices file's text; throws a DevicesFileError naming the file and the problem. */
function parseDevices(file: string, text: string): DevicesContent {
  const parsed = StoredFile.safeParse(parseJson(file, text));
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
  return { devices, legacyMode: parsed.data.authentication };
}

function serializeDevices(devices: ReadonlyMap<string, Registered>): string {
  const stored = [...devices.values()].map(({ sensorId, datasetId, hash, registeredAt, integration }) => ({ sensorId, datasetId, hash, registeredAt, ...(integration ? { integration } : {}) }));
  return JSON.stringify({ devices: stored }, null, 2) + '\n';
}

function serializeMode(mode: AuthenticationMode): string {
  return JSON.stringify({ authentication: mode }, null, 2) + '\n';
}

function errno(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** What a queued task returns when it was no longer wanted by its turn. */
const SKIPPED = Symbol('skipped');

/**
 * Runs tasks with bounded concurrency. Waiting tasks are served in turn per
 * source, so one source cannot starve the others; each source and the
 * whole queue are bounded (PasswordChecksBusyError beyond).
 */
class FairGate {
  private running = 0;
  private waitingCount = 0;
  /** Per source, in the order they are served next (a source served moves to the end). */
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(
    private readonly concurrency: number,
    private readonly perSource: number,
    private readonly total: number,
  ) {}

  async run<T>(source: string, task: () => Promise<T>, wanted: () => boolean = () => true): Promise<T | typeof SKIPPED> {
    if (this.running >= this.concurrency) {
      const queue = this.waiting.get(source) ?? [];
      if (queue.length >= this.perSource || this.waitingCount >= this.total) throw new PasswordChecksBusyError();
      // The slot is handed over by release(): `running` already counts it.
      await new Promise<void>((resolve) => {
        queue.push(resolve);
        this.waiting.set(source, queue);
        this.waitingCount += 1;
      });
    } else {
      this.running += 1;
    }
    try {
      // A client that left while it waited costs no check.
      return wanted() ? await task() : SKIPPED;
    } finally {
      this.release();
    }
  }

  private release(): void {
    for (const [source, queue] of this.waiting) {
      const next = queue.shift();
      this.waiting.delete(source);
      if (queue.length > 0) this.waiting.set(source, queue);
      if (next) {
        this.waitingCount -= 1;
        next();
        return;
      }
    }
    this.running -= 1;
  }
}

/** The device (or integration) a registered entry stands for. */
function deviceOf(registered: Registered): Device {
  const { sensorId, datasetId, integration } = registered;
  return integration ? { sensorId, datasetId, integration } : { sensorId, datasetId };
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
  /** Where a state file that turned invalid while watched is reported. @default - standard error */
  readonly log?: (line: string) => void;
  /** How often the watched files are checked for changes, besides file system events. @default 500 */
  readonly pollMs?: number;
}

/** Where `register` writes the device's credentials, before the registry changes. */
export interface CredentialsTarget {
  /** The directory of `credentials.json` (made owner-only if new). */
  readonly dir: string;
  /** The broker host written into them. */
  readonly host: string;
  /** The broker port written into them. */
  readonly port: number;
  /** An integration's HTTP push port written into them. @default - none written */
  readonly httpPort?: number;
}

/** A device registered: its password (shown once) and where its credentials were written. */
export interface Registration {
  readonly device: Device;
  readonly password: string;
  /** Whether this registration switched authentication on. */
  readonly switchedOn: boolean;
  /** The credentials file, if a target was given. */
  readonly credentialsFile?: string;
}

/** A watched file's last content taken into force, and whether it is reported as unusable. */
interface Followed {
  seen: string | undefined;
  unusable: boolean;
}

/** Options of {@link DeviceRegistry.verify}. */
export interface VerifyOptions {
  /** Who asks (a client's address): checks waiting are served in turn per source. @default 'local' */
  readonly source?: string;
  /** Whether the answer is still wanted when its turn comes (the client is still connected). @default - always */
  readonly wanted?: () => boolean;
}

/**
 * The devices registered with the local platform (`<data-dir>/state/devices.json`)
 * and the authentication mode (`authentication.json` beside it). Credentials
 * are stored as scrypt hashes, never in clear. Every change is a locked
 * read-modify-write that replaces the files atomically, so concurrent
 * `sensors` commands never lose one another's changes. A running platform
 * watches both files: changes take effect at once; a file that turns invalid
 * is reported once while the last good state stays in force, and a file that
 * disappears never switches authentication off.
 */
export class DeviceRegistry {
  /** The file of the authentication mode. */
  readonly modeFile: string;
  private state: RegistryState = EMPTY;
  private readonly ephemeral = new Map<string, { device: Device; digest: Buffer; proof: string }>();
  /** Per registered device, a fast digest of the password scrypt last accepted, with the hash it was checked against. */
  private readonly verified = new Map<string, { proof: string; digest: Buffer }>();
  /** Keys the fast digests: they mean nothing outside this process, and are never written. */
  private readonly digestKey = randomBytes(32);
  private readonly listeners = new Set<() => void>();
  private readonly checks = new FairGate(PASSWORD_CHECKS.concurrency, PASSWORD_CHECKS.queuePerSource, PASSWORD_CHECKS.queue);
  /** Unknown usernames are checked against this, at the same cost as a registered one. */
  private readonly standIn: ScryptHash = { ...SCRYPT, salt: randomBytes(16), hash: randomBytes(SCRYPT.keylen) };
  private readonly log: (line: string) => void;
  private watching: { watcher?: FSWatcher; timer: NodeJS.Timeout } | undefined;
  private readonly followed: { devices: Followed; mode: Followed } = {
    devices: { seen: undefined, unusable: false },
    mode: { seen: undefined, unusable: false },
  };
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  /** scrypt derivations run to check passwords, whatever their outcome. */
  passwordChecks = 0;
  /** Passwords accepted by their fast digest, without scrypt. */
  recalledChecks = 0;

  constructor(
    readonly file: string,
    private readonly options: DeviceRegistryOptions = {},
  ) {
    this.modeFile = join(dirname(file), AUTHENTICATION_FILE);
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  static of(layout: DataDirLayout, options?: DeviceRegistryOptions): DeviceRegistry {
    return new DeviceRegistry(join(layout.state, 'devices.json'), options);
  }

  /** A state file's text, or undefined if it does not exist; throws DevicesFileError if it cannot be read. */
  private async readText(file: string): Promise<string | undefined> {
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      if (errno(error) === 'ENOENT') return undefined;
      throw new DevicesFileError(file, `cannot be read (${errno(error) ?? String(error)})`);
    }
  }

  /**
   * Reads both files now. No devices file is no device; no mode file is the
   * mode the devices file implies (see modeWithoutFile). Throws DevicesFileError.
   */
  private async load(): Promise<{ state: RegistryState; modeStored: boolean; texts: { devices?: string; mode?: string } }> {
    const modeText = await this.readText(this.modeFile);
    const devicesText = await this.readText(this.file);
    const content = devicesText === undefined ? { devices: new Map<string, Registered>(), legacyMode: undefined } : parseDevices(this.file, devicesText);
    const stored = modeText === undefined ? undefined : parseMode(this.modeFile, modeText);
    return {
      state: { authentication: stored ?? modeWithoutFile(content), devices: content.devices },
      modeStored: stored !== undefined,
      texts: { devices: devicesText, mode: modeText },
    };
  }

  /**
   * Applies a change under the devices file's lock (one lock for both files);
   * returns what `change` returned. The mode is written first: a failure
   * between the two writes leaves authentication on without the new device,
   * never a device without authentication. The first change also writes the
   * mode file of a data dir that has none yet.
   */
  private async update<T>(change: (state: RegistryState) => { mode?: AuthenticationMode; devices?: ReadonlyMap<string, Registered>; result: T }): Promise<T> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const result = await withStateLock(this.file, async () => {
      const { state, modeStored } = await this.load();
      const outcome = change(state);
      const mode = outcome.mode ?? state.authentication;
      if (mode !== state.authentication || (!modeStored && (outcome.mode !== undefined || outcome.devices !== undefined))) {
        await writeFileAtomic(this.modeFile, serializeMode(mode));
      }
      if (outcome.devices) await writeFileAtomic(this.file, serializeDevices(outcome.devices));
      return outcome.result;
    });
    if (this.watching) await this.refresh();
    return result;
  }

  /**
   * Registers a device (again: a new password) and returns its password,
   * shown once and stored only as a hash. Switches authentication on. With a
   * credentials target, the credentials are written first, beside their
   * place: if that fails nothing is registered (the device keeps its old
   * password), and if the registry cannot be changed they are removed again.
   * Throws CredentialsWriteError, DeviceRegistrationError, DevicesFileError.
   * With `integration`, the name registered is an integration's: it does
   * not switch authentication on (HTTP push always asks for credentials;
   * the broker's mode is the devices' to choose), and a name may not turn
   * from a device into an integration or back.
   */
  async register(datasetId: string, sensorId: string, credentials?: CredentialsTarget, integration?: IntegrationRoute): Promise<Registration> {
    const device: Device = integration ? { ...checkDeviceIds(datasetId, sensorId), integration } : checkDeviceIds(datasetId, sensorId);
    const password = randomBytes(18).toString('base64url');
    // Hashed before the lock is taken: other commands wait for file work only.
    const hash = await hashPassword(password);
    const parsed = parseHash(hash);
    if (typeof parsed === 'string') throw new Error(`a new hash ${parsed}`);
    const staged = credentials ? await stageCredentials(device, password, credentials) : undefined;
    let switchedOn: boolean;
    try {
      switchedOn = await this.update((state) => {
        const existing = state.devices.get(sensorId);
        if (existing && existing.datasetId !== device.datasetId) {
          throw new DeviceRegistrationError(`${existing.integration ? 'integration' : 'sensor'} ${sensorId} is already registered for dataset ${existing.datasetId}`);
        }
        if (existing && (existing.integration === undefined) !== (integration === undefined)) {
          throw new DeviceRegistrationError(`${sensorId} is already registered as ${existing.integration ? 'an integration' : 'a device'}: revoke it first`);
        }
        const devices = new Map(state.devices);
        devices.set(sensorId, { ...device, hash, registeredAt: new Date().toISOString(), parsed });
        if (integration) return { devices, result: false };
        return { mode: 'on', devices, result: state.authentication === 'off' };
      });
    } catch (error) {
      await staged?.file.discard();
      throw error;
    }
    if (!staged) return { device, password, switchedOn };
    try {
      await staged.file.commit();
    } catch (error) {
      throw new CredentialsWriteError(
        `${sensorId} is registered with a new password, but its credentials could not be put in ${staged.path} (${errno(error) ?? String(error)}); they are in ${staged.file.temp}: move that file there`,
        error,
      );
    }
    return { device, password, switchedOn, credentialsFile: staged.path };
  }

  /** Removes a device; true if it was registered. Authentication stays as it is, even with no device left. */
  async revoke(datasetId: string, sensorId: string): Promise<boolean> {
    checkDeviceIds(datasetId, sensorId);
    return this.update((state) => {
      if (state.devices.get(sensorId)?.datasetId !== datasetId) return { result: false };
      const devices = new Map(state.devices);
      devices.delete(sensorId);
      return { devices, result: true };
    });
  }

  /** Switches authentication on or off; returns the mode it had. */
  async setAuthentication(mode: AuthenticationMode): Promise<AuthenticationMode> {
    return this.update((state) => ({ mode, result: state.authentication }));
  }

  /** The stored mode and the number of registered devices, read from the files now. */
  async status(): Promise<{ authentication: AuthenticationMode; devices: number }> {
    const { state } = await this.load();
    return { authentication: state.authentication, devices: state.devices.size };
  }

  /** Registered devices, optionally of one dataset, read from the file now. */
  async list(datasetId?: string): Promise<Device[]> {
    const { state } = await this.load();
    return [...state.devices.values()]
      .filter((d) => datasetId === undefined || d.datasetId === datasetId)
      .map(({ sensorId, datasetId: ds, integration }) => ({ sensorId, datasetId: ds, ...(integration ? { integration } : {}) }));
  }

  /**
   * Loads the files, refusing an invalid one (DevicesFileError), and from
   * then on follows their changes until {@link close}.
   */
  async open(): Promise<void> {
    const { state, texts } = await this.load();
    this.state = state;
    this.followed.devices.seen = texts.devices;
    this.followed.mode.seen = texts.mode;
    const timer = setInterval(() => void this.refresh(), this.options.pollMs ?? 500);
    timer.unref();
    let watcher: FSWatcher | undefined;
    try {
      // Events make changes prompt; the poll covers file systems without them.
      watcher = watch(dirname(this.file), (_event, name) => {
        if (name === basename(this.file) || name === AUTHENTICATION_FILE) void this.refresh();
      });
      watcher.on('error', () => watcher?.close());
      watcher.unref();
    } catch {
      watcher = undefined;
    }
    this.watching = { watcher, timer };
  }

  /** Stops following the files. */
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

  /** Reads the files again if they changed; keeps the last good state while one is invalid or gone. */
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

  /**
   * A watched file's new text, or undefined if it is unchanged, gone or
   * unreadable. A file that was there and is gone or unreadable is reported
   * once; so is one that is invalid (reported by the caller).
   */
  private async changedText(file: string, followed: Followed, keeps: string): Promise<string | undefined> {
    let text: string;
    try {
      // Small enough to read whole: a changed file is told by its content, not by times.
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (followed.seen !== undefined && !followed.unusable) {
        followed.unusable = true;
        const what = errno(error) === 'ENOENT' ? 'is gone' : `cannot be read (${errno(error) ?? String(error)})`;
        this.log(`${basename(file) === AUTHENTICATION_FILE ? 'authentication mode' : 'device registry'} ${file} ${what}; the broker keeps ${keeps}`);
      }
      return undefined;
    }
    if (text !== followed.seen) return text;
    if (followed.unusable) {
      followed.unusable = false;
      this.log(`${basename(file) === AUTHENTICATION_FILE ? 'authentication mode' : 'device registry'} ${file} is valid again`);
    }
    return undefined;
  }

  /** Takes a changed file's text into force if it parses; reports an invalid one once. */
  private accept<T>(file: string, followed: Followed, text: string, parse: (file: string, text: string) => T, keeps: string): T | undefined {
    let parsed: T;
    try {
      parsed = parse(file, text);
    } catch (error) {
      if (!followed.unusable) {
        followed.unusable = true;
        this.log(`${error instanceof Error ? error.message : String(error)}; the broker keeps ${keeps}`);
      }
      return undefined;
    }
    if (followed.unusable) this.log(`${basename(file) === AUTHENTICATION_FILE ? 'authentication mode' : 'device registry'} ${file} is valid again`);
    followed.unusable = false;
    followed.seen = text;
    return parsed;
  }

  private async refreshOnce(): Promise<void> {
    let { authentication, devices } = this.state;
    const keepsDevices = 'the devices it had';
    const devicesText = await this.changedText(this.file, this.followed.devices, keepsDevices);
    const content = devicesText === undefined ? undefined : this.accept(this.file, this.followed.devices, devicesText, parseDevices, keepsDevices);
    if (content) devices = content.devices;
    const keepsMode = `authentication ${authentication}`;
    const modeText = await this.changedText(this.modeFile, this.followed.mode, keepsMode);
    const mode = modeText === undefined ? undefined : this.accept(this.modeFile, this.followed.mode, modeText, parseMode, keepsMode);
    if (mode !== undefined) authentication = mode;
    else if (this.followed.mode.seen === undefined && content && modeWithoutFile(content) === 'on') {
      // A data dir without a mode file yet: its devices file may switch authentication on, never off.
      authentication = 'on';
    }
    if (authentication === this.state.authentication && devices === this.state.devices) return;
    this.state = { authentication, devices };
    for (const [sensorId, known] of this.verified) {
      if (devices.get(sensorId)?.hash !== known.proof) this.verified.delete(sensorId);
    }
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

  private digest(password: Buffer | string): Buffer {
    return createHmac('sha256', this.digestKey).update(password).digest();
  }

  /**
   * Adds a device for this process only (the demo fleet), with a random
   * password it returns. Kept in memory, never written; let in whatever the mode.
   */
  addEphemeral(datasetId: string, sensorId: string): string {
    const device = checkDeviceIds(datasetId, sensorId);
    const password = randomBytes(18).toString('base64url');
    const proof = `run:${randomBytes(8).toString('hex')}`;
    this.ephemeral.set(sensorId, { device, digest: this.digest(password), proof });
    return password;
  }

  /**
   * The credential a password proves without a scrypt derivation: a demo
   * sensor's, or a registered device's whose password scrypt already
   * accepted in this run (and that was not registered again since).
   * Passwords are 144 random bits, so a fast digest of one is as safe to
   * compare as scrypt's; it only ever lives in memory. Undefined otherwise:
   * then only {@link verify} can tell.
   */
  recall(username: string, password: Buffer): Credential | undefined {
    const run = this.ephemeral.get(username);
    if (run && timingSafeEqual(this.digest(password), run.digest)) return { device: run.device, proof: run.proof };
    const registered = this.state.devices.get(username);
    const known = this.verified.get(username);
    if (!registered || !known || known.proof !== registered.hash || !timingSafeEqual(this.digest(password), known.digest)) return undefined;
    this.recalledChecks += 1;
    return { device: deviceOf(registered), proof: registered.hash };
  }

  /**
   * The credential a username and password prove, or undefined. A password
   * {@link recall} knows costs nothing; any other costs one scrypt derivation
   * with the same parameters, whether the username is registered or not, so
   * the time a refusal takes tells nothing. Throws PasswordChecksBusyError
   * when too many checks of the same source, or in all, wait.
   */
  async verify(username: string, password: Buffer, options: VerifyOptions = {}): Promise<Credential | undefined> {
    const recalled = this.recall(username, password);
    if (recalled) return recalled;
    const registered = this.state.devices.get(username);
    const against = registered?.parsed ?? this.standIn;
    const matches = await this.checks.run(
      options.source ?? 'local',
      async () => {
        this.passwordChecks += 1;
        const actual = await deriveKey(password, against, against.hash.length);
        return timingSafeEqual(actual, against.hash);
      },
      options.wanted,
    );
    if (!registered || matches !== true) return undefined;
    this.verified.set(username, { proof: registered.hash, digest: this.digest(password) });
    return { device: deviceOf(registered), proof: registered.hash };
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

/**
 * Writes a device's credentials beside their place, readable by its owner
 * only; throws CredentialsWriteError. Directories it had to make are removed
 * again if the write fails or the credentials are discarded.
 */
async function stageCredentials(device: Device, password: string, target: CredentialsTarget): Promise<{ path: string; file: StagedFile }> {
  const path = join(target.dir, 'credentials.json');
  const content = {
    clientId: device.sensorId,
    username: device.sensorId,
    password,
    host: target.host,
    port: target.port,
    topic: device.integration ? integrationTopicFor(device.datasetId, device.sensorId) : topicFor(device.datasetId, device.sensorId),
    dataset: device.datasetId,
    ...(device.integration && target.httpPort !== undefined
      ? {
          format: device.integration.format,
          url: `http://${target.host}:${target.httpPort}${pushPathFor(device.datasetId, device.integration.format)}`,
          authorization: pushAuthorization(device.sensorId, password),
        }
      : {}),
  };
  let made: string | undefined;
  const unmake = () => (made === undefined ? Promise.resolve() : rm(made, { recursive: true, force: true }).catch(() => undefined));
  try {
    made = await mkdir(target.dir, { recursive: true, mode: 0o700 });
    const staged = await stageFile(path, JSON.stringify(content, null, 2) + '\n', 0o600);
    return {
      path,
      file: {
        ...staged,
        discard: async () => {
          await staged.discard();
          await unmake();
        },
      },
    };
  } catch (error) {
    await unmake();
    throw new CredentialsWriteError(
      `cannot write the credentials of ${device.sensorId} to ${path} (${errno(error) ?? String(error)}); nothing was registered (a device registered before keeps its password)`,
      error,
    );
  }
}
