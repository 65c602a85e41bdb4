import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, truncate, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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
 * callers are told, so an acknowledged message survives a kill -9. A full or
 * old buffer is sealed: renamed, whole, into the raw zone.
 */
export class RawBuffer {
  private file: FileHandle | undefined;
  private name = '';
  private bytes = 0;
  private openedAt = 0;
  private pending: string[] = [];
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private chain: Promise<void> = Promise.resolve();
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly datasetId: string,
    private readonly bufferDir: string,
    private readonly dataRoot: string,
    private readonly hints: BufferingHints,
    private readonly onSealed: SealedListener,
  ) {}

  /** Appends one line; resolves once it is on disk. */
  append(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push(line);
      this.waiters.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // Everything arriving in this turn of the event loop shares one sync.
        setImmediate(() => {
          this.scheduled = false;
          this.enqueue(() => this.flush());
        });
      }
    });
  }

  /** Seals the current buffer now, if it holds anything. */
  seal(): Promise<void> {
    return this.enqueue(async () => {
      await this.flush();
      await this.sealNow();
    });
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
    try {
      const file = await this.openIfNeeded();
      const data = Buffer.from(lines.join('\n') + '\n');
      await file.write(data);
      await file.datasync();
      this.bytes += data.length;
      for (const w of waiters) w.resolve();
    } catch (error) {
      for (const w of waiters) w.reject(error);
      return;
    }
    if (this.bytes >= this.hints.maxBytes) await this.sealNow();
  }

  private async openIfNeeded(): Promise<FileHandle> {
    if (this.file) return this.file;
    const now = new Date();
    this.name = `${newName(this.datasetId, now)}.jsonl`;
    await mkdir(this.bufferDir, { recursive: true });
    this.file = await open(join(this.bufferDir, this.name), 'a');
    this.bytes = 0;
    this.openedAt = now.getTime();
    this.timer = setTimeout(() => void this.seal().catch(() => undefined), this.hints.maxAgeMs);
    this.timer.unref();
    return this.file;
  }

  private async sealNow(): Promise<void> {
    if (!this.file) return;
    clearTimeout(this.timer);
    const file = this.file;
    const name = this.name;
    this.file = undefined;
    await file.close();
    const key = await sealBufferFile(join(this.bufferDir, name), this.dataRoot);
    this.onSealed(this.datasetId, key);
  }

  /** Milliseconds since the open buffer received its first line, or 0. */
  get age(): number {
    return this.file ? Date.now() - this.openedAt : 0;
  }
}

/**
 * Moves a buffer file into the raw zone. A torn last line (a write cut short
 * by a crash, never acknowledged) is cut off first.
 */
export async function sealBufferFile(path: string, dataRoot: string): Promise<string> {
  const { key } = sealedKeyOf(path.slice(dirname(path).length + 1));
  const size = (await stat(path)).size;
  if (size > 0) {
    const handle = await open(path, 'r');
    try {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) {
        // Only after a crash: read it whole (a buffer is a few MiB) and keep the complete lines.
        const whole = await handle.readFile();
        await truncate(path, whole.lastIndexOf(0x0a) + 1);
      }
    } finally {
      await handle.close();
    }
  }
  const target = join(dataRoot, key);
  await mkdir(dirname(target), { recursive: true });
  await rename(path, target);
  return key;
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
