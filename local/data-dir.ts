import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Zone } from '../functions/core/keys.ts';
import { checkPseudonymKey, PSEUDONYM_KEY_BYTES, PseudonymKeyError } from '../functions/core/pseudonymise.ts';

/** Where every command keeps its data unless `--data-dir` says otherwise. */
export const DEFAULT_DATA_DIR = '.datastroom';

/** Environment variable that supplies the pseudonymisation key (hex) instead of the key file. */
export const PSEUDONYM_KEY_ENV = 'DATASTROOM_PSEUDONYM_KEY';

/** Mode of the parts of a data dir that hold clear-text personal data or secrets: owner only. */
export const OWNER_ONLY_DIR_MODE = 0o700;

/** Mode of the files the runtime writes there (the pseudonymisation key). */
export const OWNER_ONLY_FILE_MODE = 0o600;

/** The layout of a local data directory: the three zones plus the runtime's own state. */
export interface DataDirLayout {
  readonly root: string;
  /** Each zone's directory: raw, curated, quarantine. */
  readonly zones: Readonly<Record<Zone, string>>;
  /** Local device credentials written by `sensors register --local`. */
  readonly devices: string;
  /** Runtime state: buffers, the state database, the key. Not a zone. */
  readonly state: string;
  /** Open raw buffers, appended to and synced before a message is acknowledged. */
  readonly buffers: string;
  /** Scratch space for transforms, on the same file system so outputs move by rename. */
  readonly scratch: string;
  /** DuckDB database with the transform's bookkeeping (claims, transformed objects). */
  readonly database: string;
  readonly keyFile: string;
}

/** The paths of a data dir's parts (creates nothing). */
export function dataDirLayout(root: string): DataDirLayout {
  const abs = resolve(root);
  const state = join(abs, 'state');
  const zone = (name: Zone) => join(abs, name);
  return {
    root: abs,
    zones: { raw: zone('raw'), curated: zone('curated'), quarantine: zone('quarantine') },
    devices: join(abs, 'devices'),
    state,
    buffers: join(state, 'buffers'),
    scratch: join(state, 'scratch'),
    database: join(state, 'platform.duckdb'),
    keyFile: join(state, 'pseudonym.key'),
  };
}

/** A part of the data dir could not be made owner-only. */
export class DataDirPermissionError extends Error {
  constructor(path: string, mode: number, cause: Error) {
    super(`cannot make ${path} readable by its owner only (mode ${mode.toString(8)}): ${cause.message}; give it to the user running datastroom, or set its mode by hand`);
    this.name = 'DataDirPermissionError';
  }
}

/** The parts of a data dir that only its owner may enter: clear-text plates (raw, scratch, buffers), the key and device secrets. */
export function ownerOnlyDirs(layout: DataDirLayout): readonly string[] {
  return [layout.zones.raw, layout.state, layout.buffers, layout.scratch, layout.devices];
}

async function restrict(path: string, mode: number): Promise<void> {
  try {
    // Only the permission bits count: a directory made by an older version, by hand or under a lax umask is corrected.
    if (((await stat(path)).mode & 0o777) !== mode) await chmod(path, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new DataDirPermissionError(path, mode, error instanceof Error ? error : new Error(String(error)));
  }
}

/**
 * Creates the directories of a data dir, and makes the raw zone, the state
 * (buffers, scratch, key, devices.json, the state database) and the device
 * credentials owner-only, correcting any that already exist. The root,
 * curated and quarantine keep the umask's mode: they hold no clear-text
 * personal data, and BI tools run by other local users may read them.
 */
export async function ensureDataDir(layout: DataDirLayout): Promise<void> {
  await mkdir(layout.root, { recursive: true });
  // devices/ is left to the first `sensors register --local`, which makes it owner-only itself.
  for (const dir of [layout.zones.raw, layout.state, layout.buffers, layout.scratch]) {
    await mkdir(dir, { recursive: true, mode: OWNER_ONLY_DIR_MODE });
  }
  for (const dir of ownerOnlyDirs(layout)) await restrict(dir, OWNER_ONLY_DIR_MODE);
  await restrict(layout.keyFile, OWNER_ONLY_FILE_MODE);
}

/**
 * The pseudonymisation key: from DATASTROOM_PSEUDONYM_KEY (hex) if set, else
 * from the data dir's key file, generated on first use and readable by the
 * owner only. It never leaves the data dir, which git ignores.
 */
export async function loadPseudonymKey(layout: DataDirLayout, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  const fromEnv = env[PSEUDONYM_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^([0-9a-fA-F]{2})+$/.test(fromEnv)) throw new PseudonymKeyError(`${PSEUDONYM_KEY_ENV} must be hex`);
    return Buffer.from(checkPseudonymKey(Buffer.from(fromEnv, 'hex')));
  }
  try {
    const text = (await readFile(layout.keyFile, 'utf8')).trim();
    return Buffer.from(checkPseudonymKey(Buffer.from(text, 'hex')));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(layout.state, { recursive: true, mode: OWNER_ONLY_DIR_MODE });
  const key = randomBytes(PSEUDONYM_KEY_BYTES);
  // 'wx' fails if another process created it meanwhile; then that key stands.
  try {
    await writeFile(layout.keyFile, key.toString('hex') + '\n', { mode: OWNER_ONLY_FILE_MODE, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return loadPseudonymKey(layout, {});
  }
}
