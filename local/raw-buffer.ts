import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, truncate, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { rawKey } from '../functions/core/keys.ts';

/** When a buffer becomes a raw object, like a delivery stream's buffering hints. */
export interface BufferingHints {
  /** @default 5 MiB */
  readonly maxBytes: number;
  /** @default 5000 ms */
  readonly maxAgeMs: number;
}

export const BUFFERING_DEFAULTS: BufferingHints = Object.freeze({ maxBytes: 5 * 1024 * 1024, maxAgeMs: 5000 });

/** Called with the key of each raw object once it is sealed into the raw zone. */
export type SealedListener = (datasetId: string, key: string) => void;

/** The calls a raw buffer makes on its open file; node's FileHandle has them all. */
export interface BufferFile {
  /** One write(2): it may write fewer bytes than asked. */
  write(data: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** Creates a new buffer file, opened for appending. */
export type OpenBufferFile = (path: string) => Promise<BufferFile>;

/** Raw lines hold readings as they arrived, personal data included: the owner alone may read them. */
const OWNER_ONLY_FILE = 0o600;
const OWNER_ONLY_DIR = 0o700;

/** Creates a buffer file for appending, owner-only; it fails rather than append to a file that exists. */
export const openBufferFile: OpenBufferFile = (path) => open(path, 'ax', OWNER_ONLY_FILE);

/** Write errors that mean the file system has no room for the data (or this file may grow no further). */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Lines that could not be written and synced whole; none of them is acknowledged, and the file is as it was before. */
export class BufferWriteError extends Error {
  /** The errno code of the failure (ENOSPC, EIO, ...), if it had one. */
  readonly code: string | undefined;
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`not acknowledged: writing ${path} failed: ${messageOf(cause)}`, { cause });
    this.name = 'BufferWriteError';
    this.code = errorCode(cause);
  }
}

/** Buffer files that could not be moved into the raw zone; they stay where they are and are retried. */
export class SealError extends Error {
  constructor(
    readonly paths: readonly string[],
    cause: unknown,
  ) {
    super(`could not seal ${paths.join(', ')} into the raw zone: ${messageOf(cause)}`, { cause });
    this.name = 'SealError';
  }
}

/** What a raw buffer reports besides sealed objects: its failures, and their end. */
export interface BufferReporter {
  /** Lines of `refused` messages, `bytes` long, could not be written or synced to `path`. */
  writeFailed(path: string, error: unknown, refused: number, bytes: number): void;
  /** `bytes` of lines were written and synced. */
  writeSucceeded(bytes: number): void;
  /** A buffer file could not be sealed; it stays in place and is retried. */
  sealFailed(path: string, error: unknown): void;
  /** A buffer file was sealed. */
  sealSucceeded(): void;
}

/**
 * When writes count as working again after a failure: once at least this
 * many bytes, and no fewer than the largest refused group, went through since
 * the last failure; or any at all after this long (few messages). On a nearly
 * full file system smaller groups still fit between failing ones (in the
 * space a refused group gave back, in a file's last block); that is no
 * recovery yet.
 */
export const WRITE_RECOVERY = Object.freeze({ bytes: 64 * 1024, afterMs: 60_000 });

/**
 * Turns buffer failures into a few clear log lines, never one per message:
 * one when writes start failing, one when they work again; the same for seals.
 */
export class BufferHealthLog implements BufferReporter {
  private writesFailing = false;
  private lastFailureAt = 0;
  private bytesSinceFailure = 0;
  private largestRefused = 0;
  private refused = 0;
  private sealsFailing = false;

  constructor(
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  writeFailed(path: string, error: unknown, refused: number, bytes: number): void {
    this.refused += refused;
    this.largestRefused = Math.max(this.largestRefused, bytes);
    this.lastFailureAt = this.now();
    this.bytesSinceFailure = 0;
    if (this.writesFailing) return;
    this.writesFailing = true;
    const cause = error instanceof BufferWriteError ? error.cause : error;
    this.log(
      NO_SPACE.has(errorCode(cause) ?? '') ?
        `data directory full: ${path}: ${messageOf(cause)}; messages are not acknowledged until space returns`
      : `cannot write to the data directory: ${path}: ${messageOf(cause)}; messages are not acknowledged until writes succeed again`,
    );
  }

  writeSucceeded(bytes: number): void {
    if (!this.writesFailing) return;
    this.bytesSinceFailure += bytes;
    const enough = Math.max(WRITE_RECOVERY.bytes, this.largestRefused);
    if (this.bytesSinceFailure >= enough || this.now() - this.lastFailureAt >= WRITE_RECOVERY.afterMs) this.recovered();
  }

  sealFailed(path: string, error: unknown): void {
    if (this.sealsFailing) return;
    this.sealsFailing = true;
    this.log(
      `cannot seal ${path} into the raw zone: ${messageOf(error)}; buffers stay in ${dirname(dirname(path))}, are retried, and are recovered at the next start`,
    );
  }

  sealSucceeded(): void {
    if (!this.sealsFailing) return;
    this.sealsFailing = false;
    this.log('sealing into the raw zone works again');
  }

  /** At stop, when no more writes come: reports the recovery if writes went through since the last failure. */
  settle(): void {
    if (this.writesFailing && this.bytesSinceFailure > 0) this.recovered();
  }

  private recovered(): void {
    this.writesFailing = false;
    this.log(`data directory writable again: acknowledging messages (${this.refused} refused meanwhile; their senders resend them)`);
    this.refused = 0;
    this.largestRefused = 0;
  }
}

/** How a raw buffer opens its files and reports what happens to them. */
export interface RawBufferOptions {
  /** @default - failures are not reported */
  readonly reporter?: BufferReporter;
  /** Called with the number of lines each time a group of them is on disk. @default - nothing is called */
  readonly onWritten?: (lines: number) => void;
  /** @default openBufferFile */
  readonly open?: OpenBufferFile;
  /** Flushes a directory's entries to disk. @default syncDirectory */
  readonly syncDirectory?: (dir: string) => Promise<void>;
}

const NAME = /^([a-z_][a-z0-9_]*)-(\d{4})(\d{2})(\d{2})T(\d{6})(\d{3})Z-([0-9a-f]{8})\.jsonl$/;

function newName(datasetId: string, now: Date): string {
  const compact = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${datasetId}-${compact}-${randomBytes(4).toString('hex')}`;
}

/** The raw key a buffer file becomes: dated by when the buffer was opened (arrival). */
export function sealedKeyOf(fileName: string): { datasetId: string; key: string } {
  const m = NAME.exec(fileName);
  if (!m) throw new Error(`not a raw buffer file: ${fileName}`);
  const datasetId = m[1] as string;
  return { datasetId, key: rawKey({ datasetId, dt: `${m[2]}-${m[3]}-${m[4]}`, name: fileName.slice(0, -'.jsonl'.length) }) };
}

/**
 * The durable buffer of one dataset. Lines are appended and synced to disk in
 * groups (one fdatasync for everything that arrived meanwhile) before their
 * callers are told, so an acknowledged message survives a kill -9. A group
 * that cannot be written whole and synced (a full disk, an I/O error) is cut
 * off again and refused, so its senders resend it and no torn line is left
 * for the next group to continue. A full or old buffer is sealed: renamed,
 * whole, into the raw zone; one that cannot be sealed stays and is retried.
 */
export class RawBuffer {
  private file: BufferFile | undefined;
  private path = '';
  /** Length of the open file's whole, synced lines. */
  private bytes = 0;
  private openedAt = 0;
  private pending: string[] = [];
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private chain: Promise<void> = Promise.resolve();
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  /** Closed buffer files waiting for a seal that failed before. */
  private stranded: string[] = [];

  constructor(
    private readonly datasetId: string,
    private readonly bufferDir: string,
    private readonly dataRoot: string,
    private readonly hints: BufferingHints,
    private readonly onSealed: SealedListener,
    private readonly options: RawBufferOptions = {},
  ) {}

  /** Appends one line; resolves once it is on disk, rejects with a {@link BufferWriteError} if it cannot be. */
  append(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push(line);
      this.waiters.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // Everything arriving in this turn of the event loop shares one sync.
        setImmediate(() => {
          this.scheduled = false;
          void this.enqueue(() => this.flush());
        });
      }
    });
  }

  /** Seals the current buffer now, if it holds anything, with any left from failed seals; rejects with a {@link SealError} if one stays. */
  seal(): Promise<void> {
    return this.enqueue(async () => {
      await this.flush();
      await this.sealNow();
    });
  }

  /** Takes over a buffer file an earlier run left and that could not be sealed yet: it is retried with this buffer's seals. */
  adopt(path: string): void {
    this.stranded.push(path);
    this.armTimer();
  }

  /** Buffer files of this dataset that could not be sealed so far. */
  get unsealed(): readonly string[] {
    return [...this.stranded];
  }

  /** Milliseconds since the open buffer received its first line, or 0. */
  get age(): number {
    return this.file ? Date.now() - this.openedAt : 0;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.chain.then(task);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    const whole = Buffer.from(lines.join('\n') + '\n');
    if (this.filled + whole.length < this.hints.maxBytes) {
      await this.flushPart(whole, waiters);
      return;
    }
    // A group that would carry the buffer past its size hint is split across buffers, each sealed
    // as it fills: no raw object passes the hint by more than one line, however many senders
    // published at once (a transform's work grows with its object).
    for (let from = 0; from < lines.length; ) {
      const room = this.hints.maxBytes - this.filled;
      let to = from;
      let size = 0;
      do size += Buffer.byteLength(lines[to++] as string) + 1;
      while (to < lines.length && size < room);
      const written = await this.flushPart(Buffer.from(lines.slice(from, to).join('\n') + '\n'), waiters.slice(from, to));
      if (!written) {
        // The rest of the group is refused with it: the disk that failed one part would fail the next.
        const rest = waiters.slice(to);
        if (rest.length > 0) {
          const refusal = new BufferWriteError(this.path, new Error('an earlier part of the same group could not be written'));
          for (const w of rest) w.reject(refusal);
        }
        return;
      }
      from = to;
    }
  }

  /** Bytes in the buffer the next line goes to: none when no file is open (the next write opens one). */
  private get filled(): number {
    return this.file ? this.bytes : 0;
  }

  /** Writes one part of a group and tells its waiters; seals the buffer once it is full. Returns whether it was written. */
  private async flushPart(data: Buffer, waiters: readonly { resolve: () => void; reject: (e: unknown) => void }[]): Promise<boolean> {
    try {
      await this.write(data);
    } catch (error) {
      const refusal = error instanceof BufferWriteError ? error : new BufferWriteError(this.path, error);
      this.options.reporter?.writeFailed(refusal.path, refusal, waiters.length, data.length);
      for (const w of waiters) w.reject(refusal);
      return false;
    }
    this.options.reporter?.writeSucceeded(data.length);
    this.options.onWritten?.(waiters.length);
    for (const w of waiters) w.resolve();
    // A failed seal is reported and retried; the lines are on disk either way.
    if (this.bytes >= this.hints.maxBytes) await this.sealNow().catch(() => undefined);
    return true;
  }

  /** Appends data whole and syncs it, or leaves the file as long as it was. */
  private async write(data: Buffer): Promise<void> {
    const file = await this.openIfNeeded();
    try {
      for (let done = 0; done < data.length; ) {
        // A write may stop short (a file system filling up, a file size limit): the rest follows, or its error does.
        const { bytesWritten } = await file.write(data, done, data.length - done);
        if (bytesWritten <= 0) throw new Error(`write made no progress after ${done} of ${data.length} bytes`);
        done += bytesWritten;
      }
      await file.datasync();
    } catch (error) {
      await this.cutBack(file);
      throw new BufferWriteError(this.path, error);
    }
    this.bytes += data.length;
  }

  /** Removes whatever part of a failed write reached the file, so no torn line is left for the next write to continue. */
  private async cutBack(file: BufferFile): Promise<void> {
    try {
      await file.truncate(this.bytes);
    } catch {
      // A file that cannot be cut is written no more: sealing cuts its torn last line, as after a crash.
      await this.retire();
    }
  }

  private async openIfNeeded(): Promise<BufferFile> {
    if (this.file) return this.file;
    const now = new Date();
    const path = join(this.bufferDir, `${newName(this.datasetId, now)}.jsonl`);
    const sync = this.options.syncDirectory ?? syncDirectory;
    try {
      await makeDirectory(this.bufferDir, sync);
      this.file = await (this.options.open ?? openBufferFile)(path);
    } catch (error) {
      throw new BufferWriteError(path, error);
    }
    try {
      // The new file's directory entry reaches the disk before any of its lines is acknowledged:
      // after a power loss, fdatasync'd lines in a file no directory names would be lost.
      await sync(this.bufferDir);
    } catch (error) {
      const file = this.file;
      this.file = undefined;
      await file.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw new BufferWriteError(path, error);
    }
    this.path = path;
    this.bytes = 0;
    this.openedAt = now.getTime();
    this.armTimer();
    return this.file;
  }

  /** Closes the open file; it joins the files waiting to be sealed. */
  private async retire(): Promise<void> {
    const file = this.file;
    if (!file) return;
    this.file = undefined;
    this.stranded.push(this.path);
    // Its whole lines are synced already, and the descriptor is released even when close reports an error.
    await file.close().catch(() => undefined);
  }

  private armTimer(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A failed seal is reported by sealNow, which arms the timer again for the retry.
      this.seal().catch(() => undefined);
    }, this.hints.maxAgeMs);
    this.timer.unref();
  }

  private async sealNow(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.retire();
    const attempt = this.stranded.splice(0);
    const failed: string[] = [];
    let firstError: unknown;
    for (const path of attempt) {
      let key: string | undefined;
      try {
        key = await sealBufferFile(path, this.dataRoot, this.options.syncDirectory);
      } catch (error) {
        this.options.reporter?.sealFailed(path, error);
        failed.push(path);
        firstError ??= error;
        continue;
      }
      this.options.reporter?.sealSucceeded();
      if (key) this.onSealed(this.datasetId, key);
    }
    if (failed.length === 0) return;
    this.stranded.unshift(...failed);
    this.armTimer();
    throw new SealError(failed, firstError);
  }
}

/**
 * Moves a buffer file into the raw zone, owner-only, and returns its key. A
 * torn last line (a write cut short by a crash, never acknowledged) is cut off
 * first. A file left with no line is removed instead, and undefined returned.
 * The move is synced to disk (`sync`, on the directories it touched) before
 * this resolves.
 */
export async function sealBufferFile(path: string, dataRoot: string, sync: (dir: string) => Promise<void> = syncDirectory): Promise<string | undefined> {
  const { key } = sealedKeyOf(basename(path));
  let size = (await stat(path)).size;
  if (size > 0) {
    const handle = await open(path, 'r');
    try {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) {
        // Only after a crash or a failed cut: read it whole (a buffer is a few MiB) and keep the complete lines.
        const whole = await handle.readFile();
        size = whole.lastIndexOf(0x0a) + 1;
        await truncate(path, size);
      }
    } finally {
      await handle.close();
    }
  }
  if (size === 0) {
    await unlink(path);
    return undefined;
  }
  const target = join(dataRoot, key);
  await makeDirectory(dirname(target), sync);
  await rename(path, target);
  // A rename lives in the directory: synced, the raw object survives a power loss where it now is.
  // The move is done either way: a failed sync must not turn it into a seal retried for ever.
  await sync(dirname(target)).catch(() => undefined);
  return key;
}

/**
 * Creates a directory (and its parents) owner-only, and syncs the directory
 * above each one it created, so the new entries survive a power loss.
 */
async function makeDirectory(dir: string, sync: (dir: string) => Promise<void>): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: OWNER_ONLY_DIR });
  if (first === undefined) return;
  for (let created = dir; ; created = dirname(created)) {
    await sync(dirname(created));
    if (created === first || dirname(created) === created) return;
  }
}

/** Flushes a directory's entries to disk (fsync on the directory). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Buffer files left behind by a process that stopped without sealing them. */
export async function leftoverBuffers(bufferDir: string): Promise<string[]> {
  const found: string[] = [];
  let datasets: string[];
  try {
    datasets = await readdir(bufferDir);
  } catch {
    return found;
  }
  for (const dataset of datasets) {
    for (const name of await readdir(join(bufferDir, dataset))) {
      if (NAME.test(name)) found.push(join(bufferDir, dataset, name));
    }
  }
  return found.sort();
}
