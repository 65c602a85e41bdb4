import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { durationSeconds, type PullSource } from '../datasets/index.ts';
import { pullVia } from '../functions/core/integrations.ts';
import { fetchJsonWithRetry, pollOnce, PullCursor, type PollOutcome, type RetryOptions } from '../functions/core/pull.ts';
import type { DataDirLayout } from './data-dir.ts';
import type { Ingest } from './ingest.ts';
import { writeFileAtomic } from './state-file.ts';

/** A pull source's secret is nowhere to be found: says where to put it. */
export class PullSecretMissingError extends Error {
  constructor(source: PullSource, envName: string, file: string) {
    super(`pull source ${source.id} needs its secret "${source.credentials?.secret ?? ''}": set ${envName}, or write it to ${file}`);
    this.name = 'PullSecretMissingError';
  }
}

/** The environment variable that holds a pull source's secret locally. */
export function pullSecretEnv(secret: string): string {
  return `DATASTROOM_SECRET_${secret.toUpperCase().replace(/-/g, '_')}`;
}

/** What a source's polls did in this run. */
export interface PullRunStats {
  readonly polls: number;
  readonly failures: number;
  readonly retries: number;
  readonly payloads: number;
  readonly fresh: number;
}

/** Options of {@link LocalPuller}. */
export interface LocalPullerOptions {
  readonly layout: DataDirLayout;
  readonly ingest: Ingest;
  readonly sources: readonly PullSource[];
  /** @default PULL_RETRY */
  readonly retry?: RetryOptions;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** @default standard error */
  readonly log?: (line: string) => void;
  /** The clock polls take their window's end from. @default Date.now */
  readonly now?: () => number;
}

/**
 * Polls pull sources for `datastroom dev`: each on its schedule (the first
 * poll at once), one poll of a source at a time, its cursor kept in
 * <data-dir>/state/pull/<source>.json, its payloads written through the
 * ingest's durable buffers (`via: pull:<source>`). A poll that fails is
 * reported and counted; its cursor stays, so the next poll fetches the
 * same window again.
 */
export class LocalPuller {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<PollOutcome | undefined>>();
  private readonly counts = new Map<string, { polls: number; failures: number; retries: number; payloads: number; fresh: number }>();
  private readonly log: (line: string) => void;
  private stopped = false;

  constructor(private readonly options: LocalPullerOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    for (const source of options.sources) this.counts.set(source.id, { polls: 0, failures: 0, retries: 0, payloads: 0, fresh: 0 });
  }

  /** Where a source's cursor is kept. */
  cursorFile(source: PullSource): string {
    return join(this.options.layout.state, 'pull', `${source.id}.json`);
  }

  /** Starts polling every source on its schedule, the first poll at once. */
  start(): void {
    for (const source of this.options.sources) {
      const every = (durationSeconds(source.schedule) ?? 3600) * 1000;
      void this.poll(source.id);
      const timer = setInterval(() => void this.poll(source.id), every);
      timer.unref();
      this.timers.set(source.id, timer);
    }
  }

  /** What each source's polls did in this run. */
  stats(): ReadonlyMap<string, PullRunStats> {
    return this.counts;
  }

  /**
   * Polls one source now (or joins its poll under way); resolves with what
   * it did, or undefined when it failed (reported and counted).
   */
  poll(sourceId: string): Promise<PollOutcome | undefined> {
    const under = this.running.get(sourceId);
    if (under) return under;
    const source = this.options.sources.find((s) => s.id === sourceId);
    if (!source || this.stopped) return Promise.resolve(undefined);
    const run = this.pollSource(source).finally(() => this.running.delete(sourceId));
    this.running.set(sourceId, run);
    return run;
  }

  private async pollSource(source: PullSource): Promise<PollOutcome | undefined> {
    const counts = this.counts.get(source.id) ?? { polls: 0, failures: 0, retries: 0, payloads: 0, fresh: 0 };
    counts.polls += 1;
    const file = this.cursorFile(source);
    const state = await this.readCursor(file);
    try {
      const secret = source.credentials ? await this.secretOf(source) : undefined;
      const outcome = await pollOnce(source, state, (this.options.now ?? Date.now)(), {
        secret,
        fetchJson: (request) =>
          fetchJsonWithRetry(request, {
            ...this.options.retry,
            onRetry: (why, waitMs) => {
              counts.retries += 1;
              this.log(`pull ${source.id}: ${why}; trying again in ${Math.round(waitMs / 100) / 10} s`);
            },
          }),
        deliver: (payload) =>
          this.options.ingest.deliver(source.datasetId, { name: source.id, via: pullVia(source.id), format: source.format }, payload),
      });
      await mkdir(join(this.options.layout.state, 'pull'), { recursive: true, mode: 0o700 });
      await writeFileAtomic(file, `${JSON.stringify({ ...outcome.cursor, retries: state.retries + counts.retries })}\n`);
      counts.payloads += outcome.payloads;
      counts.fresh += outcome.fresh;
      return outcome;
    } catch (error) {
      counts.failures += 1;
      const message = error instanceof Error ? error.message : String(error);
      this.log(`pull ${source.id} failed: ${message}; its cursor stays, so the next poll (every ${source.schedule}) fetches the same window again`);
      await mkdir(join(this.options.layout.state, 'pull'), { recursive: true, mode: 0o700 }).catch(() => undefined);
      await writeFileAtomic(file, `${JSON.stringify({ ...state, failures: state.failures + 1, lastError: message })}\n`).catch(() => undefined);
      return undefined;
    }
  }

  private async readCursor(file: string): Promise<PullCursor> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return PullCursor.parse({});
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = PullCursor.safeParse(json);
    if (!parsed.success) {
      this.log(`pull cursor ${file} is invalid (${parsed.error.issues[0]?.message ?? 'unexpected content'}); polling from the source's lookback`);
      return PullCursor.parse({});
    }
    return parsed.data;
  }

  private async secretOf(source: PullSource): Promise<string> {
    const name = source.credentials?.secret ?? source.id;
    const env = pullSecretEnv(name);
    const fromEnv = (this.options.env ?? process.env)[env];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    const file = join(this.options.layout.state, 'secrets', name);
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch {
      throw new PullSecretMissingError(source, env, file);
    }
  }

  /** Stops the schedules and waits for polls under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearInterval(timer);
    await Promise.all(this.running.values());
  }
}
