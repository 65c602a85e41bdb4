/**
 * The raw objects whose transform failed, in a state file every datastroom
 * process can read while `dev` runs: how often each was tried, the last
 * error, and whether it is parked (tried as often as the policy allows; it
 * waits for an operator). A reading never fails its object (the transform
 * quarantines it instead); what lands here is storage trouble or a bug.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { DataDirLayout } from './data-dir.ts';
import { withStateLock, writeFileAtomic } from './state-file.ts';

/** How often an object is tried before it is parked, and the waits between tries within a run. */
export interface RetryPolicy {
  /** Attempts, across runs, before an object is parked. */
  readonly maxAttempts: number;
  /** Wait before the n-th retry within a run (the last value repeats). */
  readonly delaysMs: readonly number[];
}

/** The retry policy of the local platform: a storage hiccup gets two more tries, a bug does not loop. */
export const RETRY_POLICY: RetryPolicy = Object.freeze({ maxAttempts: 3, delaysMs: Object.freeze([5_000, 30_000]) });

const Entry = z.object({
  rawKey: z.string().min(1),
  attempts: z.number().int().nonnegative(),
  firstFailedAt: z.string(),
  lastFailedAt: z.string(),
  lastError: z.string(),
  parked: z.boolean(),
});

/** One raw object that failed. */
export type FailedObject = z.infer<typeof Entry>;

const Ledger = z.object({ objects: z.array(Entry) });

/** The failed-objects file is not what the platform wrote; the message names it. */
export class FailedObjectsFileError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem} (fix or remove the file; the raw objects it names are kept either way)`);
    this.name = 'FailedObjectsFileError';
  }
}

/** Errors can be long (a stack, a statement); the ledger keeps their first line, shortened. */
function shortError(error: Error): string {
  const first = (error.message.split('\n')[0] ?? '').trim();
  return first.length > 300 ? `${first.slice(0, 297)}...` : first;
}

/** A failed attempt as recorded: in the ledger, or in this process only when the ledger could not be written. */
export interface RecordedFailure {
  readonly entry: FailedObject;
  /** Why the ledger could not be written (a full disk): the entry lives in this process only. @default - it is in the ledger */
  readonly unrecorded?: Error;
}

/** How the ledger writes its file. */
export interface FailedObjectsOptions {
  /** @default writeFileAtomic */
  readonly write?: (file: string, text: string) => Promise<void>;
}

/**
 * The failed-objects ledger of a data dir. A failure that cannot be written
 * (a full disk, exactly when transforms fail) is kept in this process: it
 * counts in {@link list}, follows the retry policy, and is written with the
 * next change that succeeds.
 */
export class FailedObjects {
  /** Entries the file should hold but could not be written with. */
  private readonly unwritten = new Map<string, FailedObject>();

  constructor(
    readonly file: string,
    private readonly options: FailedObjectsOptions = {},
  ) {}

  static of(layout: DataDirLayout, options: FailedObjectsOptions = {}): FailedObjects {
    return new FailedObjects(join(layout.state, 'failed-objects.json'), options);
  }

  /** Every entry, oldest failure first: the file's, and this process's that it could not write. */
  async list(): Promise<FailedObject[]> {
    const stored = await this.stored();
    if (this.unwritten.size === 0) return stored;
    return sorted([...stored.filter((o) => !this.unwritten.has(o.rawKey)), ...this.unwritten.values()]);
  }

  /** The entries in the file. */
  private async stored(): Promise<FailedObject[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new FailedObjectsFileError(this.file, `not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    const parsed = Ledger.safeParse(json);
    if (!parsed.success) throw new FailedObjectsFileError(this.file, z.prettifyError(parsed.error).replace(/\n/g, ' '));
    return parsed.data.objects;
  }

  private change<T>(update: (objects: FailedObject[]) => { objects: FailedObject[]; result: T }): Promise<T> {
    return withStateLock(this.file, async () => {
      const { objects, result } = update(await this.list());
      await (this.options.write ?? writeFileAtomic)(this.file, JSON.stringify({ objects: sorted(objects) }, null, 2) + '\n');
      // What this process could not write before is in the file now.
      this.unwritten.clear();
      return result;
    });
  }

  /**
   * Records a failed attempt; returns the entry, parked once it reached
   * `maxAttempts`. It never fails for want of the ledger: an entry it cannot
   * write is kept in this process, and `unrecorded` says why.
   */
  async recordFailure(rawKey: string, error: Error, maxAttempts: number = RETRY_POLICY.maxAttempts, now: Date = new Date()): Promise<RecordedFailure> {
    const next = (previous: FailedObject | undefined): FailedObject => {
      const attempts = (previous?.attempts ?? 0) + 1;
      return {
        rawKey,
        attempts,
        firstFailedAt: previous?.firstFailedAt ?? now.toISOString(),
        lastFailedAt: now.toISOString(),
        lastError: shortError(error),
        parked: attempts >= maxAttempts,
      };
    };
    try {
      const entry = await this.change((objects) => {
        const entry = next(objects.find((o) => o.rawKey === rawKey));
        return { objects: [...objects.filter((o) => o.rawKey !== rawKey), entry], result: entry };
      });
      return { entry };
    } catch (writeError) {
      const previous = this.unwritten.get(rawKey) ?? (await this.stored().catch(() => [])).find((o) => o.rawKey === rawKey);
      const entry = next(previous);
      this.unwritten.set(rawKey, entry);
      return { entry, unrecorded: writeError instanceof Error ? writeError : new Error(String(writeError)) };
    }
  }

  /** Forgets an object once it was transformed. */
  async recordSuccess(rawKey: string): Promise<void> {
    this.unwritten.delete(rawKey);
    // Most objects never failed: no lock, no write for them.
    if (!(await this.stored()).some((o) => o.rawKey === rawKey)) return;
    await this.change((objects) => ({ objects: objects.filter((o) => o.rawKey !== rawKey), result: undefined }));
  }

  /**
   * Gives parked objects (all, or those named) their attempts back, so the
   * running `dev` or the next start tries them again. Returns the keys released.
   */
  async release(rawKeys?: readonly string[]): Promise<string[]> {
    if (!(await this.list()).some((o) => o.parked)) return [];
    return this.change((objects) => {
      const released: string[] = [];
      const updated = objects.map((o) => {
        if (!o.parked || (rawKeys !== undefined && !rawKeys.includes(o.rawKey))) return o;
        released.push(o.rawKey);
        return { ...o, attempts: 0, parked: false };
      });
      return { objects: updated, result: released };
    });
  }
}

/** Oldest failure first, then by key. */
function sorted(objects: FailedObject[]): FailedObject[] {
  return objects.sort((a, b) => a.firstFailedAt.localeCompare(b.firstFailedAt) || a.rawKey.localeCompare(b.rawKey));
}
