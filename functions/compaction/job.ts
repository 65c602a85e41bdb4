import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { Dataset } from '../../datasets/index.ts';
import {
  compactedGroupOf,
  compactPartition,
  expiredFiles,
  partitionState,
  rawNameOfFragment,
  type CompactionManifest,
  type CompactionPolicy,
  type PartitionFile,
} from '../core/compaction.ts';

/** Where the job finds and puts a dataset's partitions (S3 in the function, anything in a test). */
export interface PartitionStore {
  list(datasetId: string, fromDt: string, toDt: string): Promise<{ dt: string; files: PartitionFile[] }[]>;
  fetch(datasetId: string, dt: string, name: string, dir: string): Promise<string>;
  put(datasetId: string, dt: string, name: string, file: string): Promise<void>;
  remove(datasetId: string, dt: string, names: readonly string[]): Promise<void>;
  manifest(datasetId: string, dt: string): Promise<CompactionManifest | undefined>;
  putManifest(manifest: CompactionManifest): Promise<void>;
}

/** Where the job reports: one structured log line per event. */
export type JobLogger = (level: 'info' | 'error', message: string, fields: Record<string, unknown>) => void;

/** What a run needs. */
export interface CompactionJobDeps {
  readonly store: PartitionStore;
  readonly duckdb: () => Promise<DuckDBInstance>;
  readonly scratch: string;
  readonly datasets: readonly Dataset[];
  readonly policy: CompactionPolicy;
  /** How late a reading may arrive: older partitions get no new files. */
  readonly maxLatenessDays: number;
  readonly now: Date;
  /** Time left in the invocation; no partition is started with less than a minute left. @default - unbounded */
  readonly remainingMs?: () => number;
  readonly log: JobLogger;
}

/** What one run did. */
export interface CompactionRunSummary {
  readonly partitions: number;
  readonly filesRemoved: number;
  readonly duplicates: number;
  /** Compacted files removed because their readings' retention ended. */
  readonly expired: number;
  /** Due partitions left for the next run (time ran out). */
  readonly deferred: number;
  readonly failed: readonly { datasetId: string; dt: string; error: string }[];
}

/** A date `days` after (or before) a YYYY-MM-DD date. */
export function addDays(dt: string, days: number): string {
  return new Date(Date.parse(`${dt}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** Downloads run this many at a time: a day's per-object files are many and small. */
const DOWNLOADS_AT_ONCE = 16;

/**
 * One scheduled run: for each dataset, compacts every settled partition a
 * reading can still arrive in, and removes compacted files whose readings
 * are past the dataset's curated retention (counted from their arrival, as
 * the lifecycle counts it for per-object files). A partition that fails is
 * reported and left as it was; the others go on.
 *
 * In S3 a partition is replaced in this order: the new files (a rewritten
 * group under its own name, which readers see whole, old or new), then the
 * manifest, then the per-object files are removed (a thousand per request).
 * Until the removal, about a second, a query can count those rows twice.
 */
export async function runCompactionJob(deps: CompactionJobDeps): Promise<CompactionRunSummary> {
  const today = deps.now.toISOString().slice(0, 10);
  let partitions = 0;
  let filesRemoved = 0;
  let duplicates = 0;
  let expired = 0;
  let deferred = 0;
  const failed: { datasetId: string; dt: string; error: string }[] = [];
  for (const dataset of deps.datasets) {
    const listed = await deps.store.list(dataset.id, addDays(today, -(deps.maxLatenessDays + 2)), addDays(today, 2));
    for (const { dt, files } of listed) {
      if (partitionState(dt, files, deps.now, deps.policy) !== 'due') continue;
      if ((deps.remainingMs?.() ?? Number.POSITIVE_INFINITY) < 60_000) {
        deferred += 1;
        continue;
      }
      try {
        const done = await compactOne(deps, dataset, dt, files);
        partitions += 1;
        filesRemoved += done.removed;
        duplicates += done.duplicates;
        deps.log('info', 'compacted', { datasetId: dataset.id, dt, filesBefore: files.length, filesAfter: done.filesAfter, rows: done.rows, duplicates: done.duplicates });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failed.push({ datasetId: dataset.id, dt, error: message });
        deps.log('error', 'compaction failed', { datasetId: dataset.id, dt, error: message });
      }
    }
    const days = dataset.retention.curatedDays;
    // A group arrived at most a day before its event date and at most maxLatenessDays after it.
    const old = await deps.store.list(dataset.id, addDays(today, -(days + deps.maxLatenessDays + 2)), addDays(today, -days + 1));
    for (const { dt, files } of old) {
      const names = expiredFiles(files, deps.now, days);
      if (names.length === 0) continue;
      await deps.store.remove(dataset.id, dt, names);
      expired += names.length;
      deps.log('info', 'expired', { datasetId: dataset.id, dt, files: names, retentionDays: days });
    }
  }
  return { partitions, filesRemoved, duplicates, expired, deferred, failed };
}

async function compactOne(deps: CompactionJobDeps, dataset: Dataset, dt: string, files: readonly PartitionFile[]) {
  const workDir = await mkdtemp(join(deps.scratch, 'compact-'));
  const conn = await (await deps.duckdb()).connect();
  try {
    const manifest = await deps.store.manifest(dataset.id, dt);
    const merged = new Set(manifest?.sources ?? []);
    const stale = files.filter((f) => compactedGroupOf(f.name) === undefined && merged.has(rawNameOfFragment(f.name))).map((f) => f.name);
    if (files.every((f) => compactedGroupOf(f.name) !== undefined || stale.includes(f.name))) {
      // Only replays of objects already merged: their rows are in the compacted files.
      await deps.store.remove(dataset.id, dt, stale);
      return { removed: stale.length, duplicates: 0, rows: manifest?.groups.reduce((n, g) => n + g.rows, 0) ?? 0, filesAfter: files.length - stale.length };
    }
    const needed = files.filter((f) => !stale.includes(f.name));
    const paths = new Map<string, string>();
    for (let i = 0; i < needed.length; i += DOWNLOADS_AT_ONCE) {
      await Promise.all(
        needed.slice(i, i + DOWNLOADS_AT_ONCE).map(async (f) => paths.set(f.name, await deps.store.fetch(dataset.id, dt, f.name, workDir))),
      );
    }
    const result = await compactPartition(conn, {
      dataset,
      dt,
      // Files of objects already merged are not read: their path is never used.
      inputs: files.map((f) => ({ name: f.name, file: paths.get(f.name) ?? '' })),
      manifest,
      workDir: await mkdtemp(join(workDir, 'out-')),
      policy: deps.policy,
      now: deps.now,
    });
    for (const w of result.written) await deps.store.put(dataset.id, dt, w.name, w.file);
    if (result.written.length > 0 || result.replaced.length > 0) await deps.store.putManifest(result.manifest);
    await deps.store.remove(dataset.id, dt, result.replaced);
    return { removed: result.replaced.length, duplicates: result.duplicates, rows: result.rowsOut, filesAfter: result.kept.length + result.written.length };
  } finally {
    conn.closeSync();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** A CloudWatch embedded-metric log line of one run. */
export function compactionMetricLine(namespace: string, summary: CompactionRunSummary, now: number = Date.now()): string {
  const names = ['PartitionsCompacted', 'FilesRemoved', 'DuplicatesRemoved', 'FilesExpired', 'PartitionsFailed'] as const;
  return JSON.stringify({
    _aws: { Timestamp: now, CloudWatchMetrics: [{ Namespace: namespace, Dimensions: [[]], Metrics: names.map((Name) => ({ Name, Unit: 'Count' })) }] },
    PartitionsCompacted: summary.partitions,
    FilesRemoved: summary.filesRemoved,
    DuplicatesRemoved: summary.duplicates,
    FilesExpired: summary.expired,
    PartitionsFailed: summary.failed.length,
  });
}
