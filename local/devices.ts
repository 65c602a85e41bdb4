import { randomBytes, scryptSync, timingSafeEqual, createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { statSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { getDataset } from '../datasets/index.ts';
import { sensorIdProblem } from '../functions/core/reading.ts';
import type { DataDirLayout } from './data-dir.ts';

/** A device the local broker lets in: the local counterpart of a thing with its certificate. */
export interface Device {
  readonly sensorId: string;
  readonly datasetId: string;
}

const Stored = z.object({
  devices: z.array(
    z.object({ sensorId: z.string(), datasetId: z.string(), hash: z.string(), registeredAt: z.string() }),
  ),
});
type StoredDevices = z.infer<typeof Stored>;

/** A sensor id or dataset the registry refuses; nothing was written. */
export class DeviceRegistrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceRegistrationError';
  }
}

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32 } as const;

function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

function passwordMatches(password: string, stored: string): boolean {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = scryptSync(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expected);
}

/** Checks a dataset id and a sensor id the way IoT Core would; throws before anything is written. */
export function checkDeviceIds(datasetId: string, sensorId: string): Device {
  const dataset = getDataset(datasetId);
  const problem = sensorIdProblem(sensorId);
  if (problem) throw new DeviceRegistrationError(problem);
  return { sensorId, datasetId: dataset.id };
}

/**
 * The devices registered with the local platform, in the data dir:
 * credentials are stored as scrypt hashes, never in clear. The file is read
 * again when it changes, so a device registered while `datastroom dev` runs
 * can connect at once.
 */
export class DeviceRegistry {
  private cache: { mtimeMs: number; data: StoredDevices } | undefined;
  private readonly ephemeral = new Map<string, { device: Device; digest: Buffer }>();

  constructor(private readonly file: string) {}

  static of(layout: DataDirLayout): DeviceRegistry {
    return new DeviceRegistry(join(layout.state, 'devices.json'));
  }

  private read(): StoredDevices {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.file).mtimeMs;
    } catch {
      return { devices: [] };
    }
    if (this.cache?.mtimeMs !== mtimeMs) {
      this.cache = { mtimeMs, data: Stored.parse(JSON.parse(readFileSync(this.file, 'utf8'))) };
    }
    return this.cache.data;
  }

  private async write(data: StoredDevices): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
    await rename(temp, this.file);
    this.cache = undefined;
  }

  /** Registers a device and returns its new password: shown once, stored only as a hash. */
  async register(datasetId: string, sensorId: string): Promise<{ device: Device; password: string }> {
    const device = checkDeviceIds(datasetId, sensorId);
    const data = this.read();
    const existing = data.devices.find((d) => d.sensorId === sensorId);
    if (existing && existing.datasetId !== datasetId) {
      throw new DeviceRegistrationError(`sensor ${sensorId} is already registered for dataset ${existing.datasetId}`);
    }
    const password = randomBytes(18).toString('base64url');
    const others = data.devices.filter((d) => d.sensorId !== sensorId);
    await this.write({ devices: [...others, { ...device, hash: hashPassword(password), registeredAt: new Date().toISOString() }] });
    return { device, password };
  }

  /** Removes a device; true if it was registered. */
  async revoke(datasetId: string, sensorId: string): Promise<boolean> {
    checkDeviceIds(datasetId, sensorId);
    const data = this.read();
    const kept = data.devices.filter((d) => !(d.sensorId === sensorId && d.datasetId === datasetId));
    if (kept.length === data.devices.length) return false;
    await this.write({ devices: kept });
    return true;
  }

  /** Registered devices, optionally of one dataset. */
  list(datasetId?: string): Device[] {
    return this.read()
      .devices.filter((d) => datasetId === undefined || d.datasetId === datasetId)
      .map(({ sensorId, datasetId: ds }) => ({ sensorId, datasetId: ds }));
  }

  /**
   * Adds a device for this process only (the demo fleet), with a random
   * password it returns. Kept in memory, never written.
   */
  addEphemeral(datasetId: string, sensorId: string): string {
    const device = checkDeviceIds(datasetId, sensorId);
    const password = randomBytes(18).toString('base64url');
    this.ephemeral.set(sensorId, { device, digest: createHash('sha256').update(password).digest() });
    return password;
  }

  /** Whether any device is registered: then the broker lets in registered devices only. */
  get enforcing(): boolean {
    return this.read().devices.length > 0;
  }

  /** The device a username and password belong to, or undefined. */
  verify(username: string | undefined, password: Buffer | undefined): Device | undefined {
    if (username === undefined || password === undefined) return undefined;
    const text = password.toString('utf8');
    const temporary = this.ephemeral.get(username);
    if (temporary) {
      const digest = createHash('sha256').update(text).digest();
      return timingSafeEqual(digest, temporary.digest) ? temporary.device : undefined;
    }
    const stored = this.read().devices.find((d) => d.sensorId === username);
    return stored && passwordMatches(text, stored.hash) ? { sensorId: stored.sensorId, datasetId: stored.datasetId } : undefined;
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
