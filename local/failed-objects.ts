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

/** The failed-objects ledger of a data dir. */
export class FailedObjects {
  constructor(readonly file: string) {}

  static of(layout: DataDirLayout): FailedObjects {
    return new FailedObjects(join(layout.state, 'failed-objects.json'));
  }

  /** Every entry, oldest failure first. */
  async list(): Promise<FailedObject[]> {
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
      objects.sort((a, b) => a.firstFailedAt.localeCompare(b.firstFailedAt) || a.rawKey.localeCompare(b.rawKey));
      await writeFileAtomic(this.file, JSON.stringify({ objects }, null, 2) + '\n');
      return result;
    });
  }

  /** Records a failed attempt; returns the entry, parked once it reached `maxAttempts`. */
  recordFailure(rawKey: string, error: Error, maxAttempts: number = RETRY_POLICY.maxAttempts, now: Date = new Date()): Promise<FailedObject> {
    return this.change((objects) => {
      const previous = objects.find((o) => o.rawKey === rawKey);
      const attempts = (previous?.attempts ?? 0) + 1;
      const entry: FailedObject = {
        rawKey,
        attempts,
        firstFailedAt: previous?.firstFailedAt ?? now.toISOString(),
        lastFailedAt: now.toISOString(),
        lastError: shortError(error),
        parked: attempts >= maxAttempts,
      };
      return { objects: [...objects.filter((o) => o.rawKey !== rawKey), entry], result: entry };
    });
  }

  /** Forgets an object once it was transformed. */
  async recordSuccess(rawKey: string): Promise<void> {
    // Most objects never failed: no lock, no write for them.
    if (!(await this.list()).some((o) => o.rawKey === rawKey)) return;
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
