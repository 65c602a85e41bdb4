import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** How long a state file's lock is waited for, and when a held lock counts as abandoned. */
export const STATE_LOCK_DEFAULTS = Object.freeze({
  /** Give up waiting for another process's lock after this long. */
  timeoutMs: 20_000,
  /** A lock held this long is abandoned even if its process still runs (a hung or reused pid). */
  staleMs: 30_000,
  /**
   * An empty lock this old is abandoned: its content is written before the
   * lock appears, except on file systems without hard links, where it follows
   * within moments.
   */
  emptyGraceMs: 2_000,
});

/** Another process holds a state file's lock and did not let go in time. */
export class StateFileLockedError extends Error {
  constructor(file: string, holder: string) {
    super(
      `${file} is being changed by another process (${holder}); try again, or if no datastroom command is running, remove ${lockPath(file)}`,
    );
    this.name = 'StateFileLockedError';
  }
}

/** The lock of a state file could not be written (a full disk, a file size limit): nothing was changed, and no lock is left behind. */
export class StateFileLockWriteError extends Error {
  constructor(file: string, cause: unknown) {
    const code = errno(cause);
    const hint = code === 'ENOSPC' ? ': the disk holding the data directory is full' : '';
    super(`cannot change ${file}: writing its lock ${lockPath(file)} failed (${code ?? String(cause)})${hint}; nothing was changed`, { cause });
    this.name = 'StateFileLockWriteError';
  }
}

/** Options of {@link withStateLock}. */
export interface StateLockOptions {
  /** @default STATE_LOCK_DEFAULTS.timeoutMs */
  readonly timeoutMs?: number;
  /** @default STATE_LOCK_DEFAULTS.staleMs */
  readonly staleMs?: number;
  /** @default STATE_LOCK_DEFAULTS.emptyGraceMs */
  readonly emptyGraceMs?: number;
}

function lockPath(file: string): string {
  return `${file}.lock`;
}

function errno(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function holderOf(content: string): { pid?: number; text: string } {
  const match = /^(\d+) /.exec(content);
  const pid = match?.[1] === undefined ? undefined : Number(match[1]);
  return { pid, text: pid === undefined ? 'an unknown process' : `process ${pid}` };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours.
    return errno(error) === 'EPERM';
  }
}

/**
 * Moves an abandoned lock aside. Only the lock that was judged is removed: if
 * another process replaced it meanwhile, the fresh lock is put back.
 */
async function breakLock(lock: string, judged: string): Promise<void> {
  const aside = `${lock}.${process.pid}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(lock, aside);
  } catch (error) {
    if (errno(error) === 'ENOENT') return;
    throw error;
  }
  const moved = await readFile(aside, 'utf8').catch(() => judged);
  if (moved !== judged) {
    // link() creates the name only if it is free: whoever holds the lock now keeps it.
    await link(aside, lock).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

/** Errors of link() on file systems without hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/**
 * Creates the lock with its content, or returns false if it exists. The
 * content goes to a temporary file first and the lock is its hard link, so a
 * lock never exists empty and a write that fails (a full disk) leaves none.
 * Throws StateFileLockWriteError when the content cannot be written.
 */
async function createLock(file: string, lock: string, content: string): Promise<boolean> {
  const temp = `${lock}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, content, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw new StateFileLockWriteError(file, error);
  }
  try {
    await link(temp, lock);
    return true;
  } catch (error) {
    if (errno(error) === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(errno(error) ?? '')) throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  return createLockInPlace(file, lock, content);
}

/** createLock without hard links: the lock is empty for a moment, and removed again if its content cannot be written. */
async function createLockInPlace(file: string, lock: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(lock, 'wx', 0o600);
  } catch (error) {
    if (errno(error) === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(content);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(lock).catch(() => undefined);
    throw new StateFileLockWriteError(file, error);
  }
  await handle.close();
  return true;
}

/**
 * Runs `change` while holding `<file>.lock`, a lock every datastroom process
 * honours, so read-modify-write cycles of one state file never interleave.
 * A lock left by a process that died (or held past `staleMs`, or left
 * empty past `emptyGraceMs`) is broken. A lock that cannot be written is
 * an error at once (StateFileLockWriteError), never a wait.
 */
export async function withStateLock<T>(file: string, change: () => Promise<T>, options: StateLockOptions = {}): Promise<T> {
  const lock = lockPath(file);
  const timeoutMs = options.timeoutMs ?? STATE_LOCK_DEFAULTS.timeoutMs;
  const staleMs = options.staleMs ?? STATE_LOCK_DEFAULTS.staleMs;
  const emptyGraceMs = options.emptyGraceMs ?? STATE_LOCK_DEFAULTS.emptyGraceMs;
  const mine = `${process.pid} ${randomBytes(8).toString('hex')} ${new Date().toISOString()}\n`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await createLock(file, lock, mine)) break;
    let content: string;
    let ageMs: number;
    try {
      content = await readFile(lock, 'utf8');
      ageMs = Date.now() - (await stat(lock)).mtimeMs;
    } catch (error) {
      if (errno(error) === 'ENOENT') continue;
      throw error;
    }
    const holder = holderOf(content);
    // An empty lock was left by a process that died before it wrote one (or by an older version on a full disk).
    const abandoned =
      ageMs > staleMs ||
      (content === '' && ageMs > emptyGraceMs) ||
      (holder.pid !== undefined && holder.pid !== process.pid && !processAlive(holder.pid));
    if (abandoned) {
      await breakLock(lock, content);
      continue;
    }
    if (Date.now() > deadline) throw new StateFileLockedError(file, holder.text);
    await sleep(5 + Math.floor(Math.random() * 20));
  }
  try {
    return await change();
  } finally {
    // Removed only while it is still ours (it is not if it was judged abandoned).
    const content = await readFile(lock, 'utf8').catch(() => undefined);
    if (content === mine) await unlink(lock).catch(() => undefined);
  }
}

/** A file's new content, written and synced beside it, not yet in place. */
export interface StagedFile {
  /** The temporary file that holds the content. */
  readonly temp: string;
  /** Puts the content in place (a rename) and syncs the directory, so the rename survives a crash. */
  commit(): Promise<void>;
  /** Removes the temporary file; the file keeps its old content. */
  discard(): Promise<void>;
}

/**
 * Writes `content` to a temporary file beside `file` and syncs it, without
 * touching `file`: a write that fails leaves nothing behind. Commit puts it
 * in place all at once.
 */
export async function stageFile(file: string, content: string, mode = 0o600): Promise<StagedFile> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  return {
    temp,
    commit: async () => {
      await rename(temp, file);
      const dir = await open(dirname(file), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    },
    discard: () => unlink(temp).catch(() => undefined),
  };
}

/**
 * Replaces a file's content all at once: readers see the old or the new
 * content, never a part. Written to a temporary file beside it, synced, then
 * renamed over it; the directory is synced so the rename survives a crash.
 */
export async function writeFileAtomic(file: string, content: string, mode = 0o600): Promise<void> {
  const staged = await stageFile(file, content, mode);
  try {
    await staged.commit();
  } catch (error) {
    await staged.discard();
    throw error;
  }
}
