import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkPseudonymKey, PSEUDONYM_KEY_BYTES, PseudonymKeyError } from '../functions/core/pseudonymise.ts';

/** Where every command keeps its data unless `--data-dir` says otherwise. */
export const DEFAULT_DATA_DIR = '.datastroom';

/** Environment variable that supplies the pseudonymisation key (hex) instead of the key file. */
export const PSEUDONYM_KEY_ENV = 'DATASTROOM_PSEUDONYM_KEY';

/** The layout of a local data directory: the three zones plus the runtime's own state. */
export interface DataDirLayout {
  readonly root: string;
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

export function dataDirLayout(root: string): DataDirLayout {
  const abs = resolve(root);
  const state = join(abs, 'state');
  return {
    root: abs,
    state,
    buffers: join(state, 'buffers'),
    scratch: join(state, 'scratch'),
    database: join(state, 'platform.duckdb'),
    keyFile: join(state, 'pseudonym.key'),
  };
}

/** Creates the directories of a data dir. */
export async function ensureDataDir(layout: DataDirLayout): Promise<void> {
  for (const dir of [layout.root, layout.state, layout.buffers, layout.scratch]) await mkdir(dir, { recursive: true });
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
  await mkdir(layout.state, { recursive: true });
  const key = randomBytes(PSEUDONYM_KEY_BYTES);
  // 'wx' fails if another process created it meanwhile; then that key stands.
  try {
    await writeFile(layout.keyFile, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return loadPseudonymKey(layout, {});
  }
}
