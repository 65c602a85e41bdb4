/**
 * Compaction of the local data dir: the same core as the scheduled Lambda,
 * with the new files put in place by renames. `datastroom dev` runs it in
 * the background; `datastroom compact` runs it on demand, also while dev
 * runs (it uses a DuckDB of its own, never the state database dev holds).
 *
 * A partition directory is replaced as a whole: the new one is built beside
 * it (`.dt=<date>.next`, which no query globs), then two renames swap it in,
 * and per-object files the transform wrote meanwhile are moved across. A
 * query sees the old files or the new ones: only one that binds in the
 * microseconds between the two renames finds the day empty, and one that is
 * reading the old files as they are swapped out fails ("No such file") and
 * can be run again. It never sees rows twice.
 */
import { link, mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { registry, type Dataset } from '../datasets/index.ts';
import {
  COMPACTION_DEFAULTS,
  compactedGroupOf,
  compactionManifestKey,
  compactPartition,
  parseManifest,
  partitionState,
  rawNameOfFragment,
  type CompactedSources,
  type CompactionManifest,
  type CompactionPolicy,
  type PartitionFile,
  type PartitionState,
} from '../functions/core/compaction.ts';
import { createTransformEngine } from '../functions/core/engine.ts';
import { zonePrefix } from '../functions/core/keys.ts';
import type { DataDirLayout } from './data-dir.ts';
import { StateFileLockedError, withStateLock, writeFileAtomic } from './state-file.ts';

/** The manifests of the local data dir, re-read only when one changes. */
export class LocalCompactedSources implements CompactedSources {
  private readonly cache = new Map<string, { mtimeMs: number; sources: ReadonlySet<string> }>();

  constructor(private readonly root: string) {}

  async mergedInto(datasetId: string, dt: string): Promise<ReadonlySet<string>> {
    const key = compactionManifestKey(datasetId, dt);
    const file = join(this.root, key);
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(file)).mtimeMs;
    } catch {
      return new Set();
    }
    const cached = this.cache.get(file);
    if (cached?.mtimeMs === mtimeMs) return cached.sources;
    const sources = new Set(parseManifest(key, await readFile(file, 'utf8')).sources);
    this.cache.set(file, { mtimeMs, sources });
    return sources;
  }
}

/** Options of {@link LocalCompactor}. */
export interface LocalCompactorOptions {
  readonly layout: DataDirLayout;
  /** @default COMPACTION_DEFAULTS */
  readonly policy?: CompactionPolicy;
  /** DuckDB worker threads. @default - one per core */
  readonly threads?: number;
  /**
   * Runs the renames that swap a partition while nothing else writes it
   * (dev passes its transform pipeline's turn, so no object is written mid-swap).
   * @default - runs them at once
   */
  readonly exclusive?: <T>(swap: () => Promise<T>) => Promise<T>;
  /** Datasets it compacts. @default the registry */
  readonly datasets?: readonly Dataset[];
}

/** A partition and what compaction made of it. */
export interface PartitionReport {
  readonly datasetId: string;
  readonly dt: string;
  /** Files before: compacted and per-object. */
  readonly filesBefore: number;
  /** Files after. */
  readonly filesAfter: number;
  readonly rowsIn: number;
  readonly rowsOut: number;
  readonly duplicates: number;
  readonly seconds: number;
}

/** One line on a compacted partition. */
export function describeCompaction(r: PartitionReport): string {
  return `compacted ${r.datasetId} dt=${r.dt}: ${r.filesBefore} file${r.filesBefore === 1 ? '' : 's'} into ${r.filesAfter}, ${r.rowsOut} rows` +
    `${r.duplicates ? ` (${r.duplicates} duplicate${r.duplicates === 1 ? '' : 's'} removed)` : ''} in ${r.seconds.toFixed(1)} s`;
}

/** A partition waiting to be compacted. */
export interface PendingPartition {
  readonly dataset: Dataset;
  readonly dt: string;
  readonly files: readonly PartitionFile[];
}

/** What one compaction run did. */
export interface CompactionSummary {
  readonly compacted: readonly PartitionReport[];
  /** Partitions with per-object files left as they are, by state (open: today's or later; settling). */
  readonly waiting: Readonly<Record<Exclude<PartitionState, 'due' | 'compacted'>, number>>;
  /** Datasets another process was compacting: left to it. */
  readonly busy: readonly string[];
}

/** Which partitions a run takes. */
export interface CompactionScope {
  /** @default every dataset of the compactor */
  readonly datasets?: readonly Dataset[];
  /** Compact every partition with per-object files, settled or not. @default false */
  readonly all?: boolean;
  readonly now?: Date;
  /** How long to wait for another process compacting the same dataset. @default 0: skip it */
  readonly waitMs?: number;
  /** Called before each partition is compacted. */
  readonly onStart?: (partition: PendingPartition, index: number, total: number) => void;
  /** Called after each partition is compacted. */
  readonly onPartition?: (report: PartitionReport) => void;
}

/** How long a compaction lock may be held before another process judges it abandoned (its process gone). */
const LOCK_STALE_MS = 6 * 3_600_000;

const PARTITION_DIR = /^dt=(\d{4}-\d{2}-\d{2})$/;
const STAGED_DIR = /^\.dt=(\d{4}-\d{2}-\d{2})\.(next|prev)$/;

function errno(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** Compacts the partitions of a local data dir. */
export class LocalCompactor {
  private engine: Promise<DuckDBInstance> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly options: LocalCompactorOptions) {}

  private get policy(): CompactionPolicy {
    return this.options.policy ?? COMPACTION_DEFAULTS;
  }

  private datasetDir(dataset: Dataset): string {
    return join(this.options.layout.root, zonePrefix('curated', dataset.id));
  }

  private duckdb(): Promise<DuckDBInstance> {
    this.engine ??= createTransformEngine({ threads: this.options.threads, tempDirectory: join(this.options.layout.scratch, 'compaction-spill') });
    return this.engine;
  }

  /** The partitions of the scope with per-object files, and the state each is in. */
  async partitions(scope: CompactionScope = {}): Promise<{ partition: PendingPartition; state: PartitionState }[]> {
    const now = scope.now ?? new Date();
    const found: { partition: PendingPartition; state: PartitionState }[] = [];
    for (const dataset of scope.datasets ?? this.options.datasets ?? registry) {
      const root = this.datasetDir(dataset);
      for (const entry of await readdirOrEmpty(root)) {
        const dt = PARTITION_DIR.exec(entry)?.[1];
        if (dt === undefined) continue;
        const names = (await readdirOrEmpty(join(root, entry))).filter((n) => n.endsWith('.parquet'));
        if (names.every((n) => compactedGroupOf(n) !== undefined)) continue;
        const files: PartitionFile[] = [];
        for (const name of names) {
          try {
            const info = await stat(join(root, entry, name));
            files.push({ name, modifiedAt: info.mtime, bytes: info.size });
          } catch {
            // replaced while listed: the next run sees it
          }
        }
        found.push({ partition: { dataset, dt, files }, state: partitionState(dt, files, now, this.policy, scope.all ?? false) });
      }
    }
    return found;
  }

  /** Compacts every due partition of the scope, one at a time. */
  async run(scope: CompactionScope = {}): Promise<CompactionSummary> {
    const waiting = { open: 0, settling: 0 };
    const compacted: PartitionReport[] = [];
    const busy: string[] = [];
    const datasets = scope.datasets ?? this.options.datasets ?? registry;
    for (const dataset of datasets) {
      const lockFile = join(this.options.layout.state, `compaction-${dataset.id}`);
      try {
        await withStateLock(
          lockFile,
          async () => {
            await this.recover(dataset);
            const listed = await this.partitions({ ...scope, datasets: [dataset] });
            for (const { state } of listed) if (state === 'open' || state === 'settling') waiting[state] += 1;
            const due = listed.filter((p) => p.state === 'due').map((p) => p.partition);
            for (const [i, partition] of due.entries()) {
              if (this.stopped) return;
              scope.onStart?.(partition, i, due.length);
              const report = await this.compact(partition, scope.now);
              compacted.push(report);
              scope.onPartition?.(report);
            }
          },
          { timeoutMs: scope.waitMs ?? 0, staleMs: LOCK_STALE_MS },
        );
      } catch (error) {
        if (!(error instanceof StateFileLockedError)) throw error;
        busy.push(dataset.id);
      }
    }
    return { compacted, waiting, busy };
  }

  /** Compacts one partition and swaps it in. */
  private async compact(partition: PendingPartition, now = new Date()): Promise<PartitionReport> {
    const started = performance.now();
    const { dataset, dt, files } = partition;
    const root = this.datasetDir(dataset);
    const dir = join(root, `dt=${dt}`);
    const manifestFile = join(this.options.layout.root, compactionManifestKey(dataset.id, dt));
    const manifest = await this.readManifest(dataset.id, dt);
    const workDir = await mkdtemp(join(this.options.layout.scratch, 'compact-'));
    const conn = await (await this.duckdb()).connect();
    try {
      const result = await compactPartition(conn, {
        dataset,
        dt,
        inputs: files.map((f) => ({ name: f.name, file: join(dir, f.name) })),
        manifest,
        workDir,
        policy: this.policy,
        now,
      });
      const next = join(root, `.dt=${dt}.next`);
      const prev = join(root, `.dt=${dt}.prev`);
      await rm(next, { recursive: true, force: true });
      await mkdir(next);
      for (const name of result.kept) await link(join(dir, name), join(next, name));
      for (const w of result.written) await rename(w.file, join(next, w.name));
      const merged = new Set(files.map((f) => f.name));
      const swap = async () => {
        await rename(dir, prev);
        await this.putInPlace(next, dir);
        await this.moveUnmerged(prev, dir, merged);
        // Once the files are in place: from now on a replay of a merged object writes nothing.
        await mkdir(join(manifestFile, '..'), { recursive: true });
        await writeFileAtomic(manifestFile, `${JSON.stringify(result.manifest)}\n`, 0o644);
      };
      await (this.options.exclusive ? this.options.exclusive(swap) : swap());
      await rm(prev, { recursive: true, force: true });
      return {
        datasetId: dataset.id,
        dt,
        filesBefore: files.length,
        filesAfter: result.kept.length + result.written.length,
        rowsIn: result.rowsIn,
        rowsOut: result.rowsOut,
        duplicates: result.duplicates,
        seconds: (performance.now() - started) / 1000,
      };
    } finally {
      conn.closeSync();
      await rm(workDir, { recursive: true, force: true });
    }
  }

  private async readManifest(datasetId: string, dt: string): Promise<CompactionManifest | undefined> {
    const key = compactionManifestKey(datasetId, dt);
    try {
      return parseManifest(key, await readFile(join(this.options.layout.root, key), 'utf8'));
    } catch (error) {
      if (errno(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Renames the new partition into place; a directory the transform created meanwhile is merged into it first. */
  private async putInPlace(next: string, dir: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(next, dir);
        return;
      } catch (error) {
        const code = errno(error);
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt >= 5) throw error;
        for (const name of await readdirOrEmpty(dir)) await rename(join(dir, name), join(next, name));
        await rmdir(dir).catch(() => undefined);
      }
    }
  }

  /** Moves the per-object files written after the listing (not merged) from the old partition into the new. */
  private async moveUnmerged(prev: string, dir: string, merged: ReadonlySet<string>): Promise<void> {
    for (const name of await readdirOrEmpty(prev)) {
      if (!name.endsWith('.parquet') || merged.has(name) || compactedGroupOf(name) !== undefined) continue;
      await rename(join(prev, name), join(dir, name));
    }
  }

  /**
   * Finishes or undoes a swap a killed process left: a new partition built
   * but not swapped in is removed; one swapped out is replaced by its new
   * one, and every per-object file the manifest does not name is moved back
   * (its rows may be in the new files too: the next run removes them as
   * duplicates; none is lost).
   */
  private async recover(dataset: Dataset): Promise<void> {
    const root = this.datasetDir(dataset);
    for (const entry of await readdirOrEmpty(root)) {
      const staged = STAGED_DIR.exec(entry);
      if (!staged) continue;
      const [, dt = '', kind] = staged;
      const dir = join(root, `dt=${dt}`);
      const next = join(root, `.dt=${dt}.next`);
      const prev = join(root, `.dt=${dt}.prev`);
      const dirExists = await stat(dir).then(() => true, () => false);
      if (kind === 'next' && dirExists && !(await stat(prev).then(() => true, () => false))) {
        await rm(next, { recursive: true, force: true });
      } else if (kind === 'prev') {
        if (!dirExists) await this.putInPlace(next, dir);
        const sources = new Set((await this.readManifest(dataset.id, dt))?.sources ?? []);
        const merged = new Set((await readdirOrEmpty(prev)).filter((n) => sources.has(rawNameOfFragment(n))));
        await this.moveUnmerged(prev, dir, merged);
        await rm(prev, { recursive: true, force: true });
      }
    }
  }

  /** Compacts settled partitions every `intervalMs` in the background until stopped; errors go to `onError`. */
  start(intervalMs: number, onRun: (summary: CompactionSummary) => void, onError: (error: Error) => void): void {
    if (this.timer) return;
    const tick = () => {
      if (this.running || this.stopped) return;
      this.running = this.run()
        .then(onRun, (error: unknown) => onError(error instanceof Error ? error : new Error(String(error))))
        .finally(() => {
          this.running = undefined;
        });
    };
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  /** Stops the background runs (after the partition in progress) and closes the engine. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    const engine = await this.engine?.catch(() => undefined);
    engine?.closeSync();
    this.engine = undefined;
  }
}
