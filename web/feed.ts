/**
 * Keeps the dashboard's aggregates current on the local platform: at start
 * it summarises the last day's curated partitions once, then each curated
 * object as the pipeline writes it, and it picks up places as sensors are
 * registered. Its own single-threaded DuckDB, so it never takes the
 * transform's engine.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { findDataset, registry, type Dataset } from '../datasets/index.ts';
import { PLACES_PREFIX } from '../functions/core/places.ts';
import type { DataDirLayout } from '../local/data-dir.ts';
import { readLocalPlaces } from '../local/places.ts';
import { WINDOW_HOURS, type DashboardAggregates } from './aggregates.ts';
import { recentFiles, summariseFiles } from './summarise.ts';

/** How often places are looked for (a directory's time changes when a sensor is registered or revoked). */
const PLACES_POLL_MS = 3000;

/** Feeds the aggregates from a data dir. */
export class DashboardFeed {
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private placesStamp = '';
  private closed = false;

  private constructor(
    private readonly layout: DataDirLayout,
    private readonly aggregates: DashboardAggregates,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly log: (line: string) => void,
    private readonly datasets: readonly Dataset[],
  ) {}

  /** Opens the feed's engine; nothing is read until {@link start}. */
  static async open(layout: DataDirLayout, aggregates: DashboardAggregates, log: (line: string) => void, datasets: readonly Dataset[] = registry): Promise<DashboardFeed> {
    const instance = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '256MB' });
    const conn = await instance.connect();
    await conn.run("SET TimeZone = 'UTC'");
    return new DashboardFeed(layout, aggregates, instance, conn, log, datasets);
  }

  /** Reads the places and the last day once, then watches for places. Resolves when the last day is in. */
  start(): Promise<void> {
    const initial = this.run(async () => {
      await this.refreshPlaces();
      const since = Date.now() - WINDOW_HOURS * 3_600_000;
      for (const dataset of this.datasets) {
        const files = await recentFiles(this.layout.root, dataset);
        this.aggregates.add(await summariseFiles(this.conn, dataset, files, since));
      }
    });
    this.timer = setInterval(() => void this.run(() => this.refreshPlaces()), PLACES_POLL_MS);
    this.timer.unref();
    return initial;
  }

  /** Summarises curated objects the pipeline just wrote. */
  added(datasetId: string, curatedKeys: readonly string[]): void {
    const dataset = findDataset(datasetId);
    if (!dataset || curatedKeys.length === 0 || !this.datasets.includes(dataset)) return;
    const files = curatedKeys.map((key) => join(this.layout.root, key));
    void this.run(async () => this.aggregates.add(await summariseFiles(this.conn, dataset, files, Date.now() - WINDOW_HOURS * 3_600_000)));
  }

  /** Resolves once everything queued so far is in the aggregates. */
  idle(): Promise<void> {
    return this.queue;
  }

  private run(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.closed) return;
      try {
        await task();
      } catch (error) {
        // A file compaction swapped away meanwhile is in the compacted file, which the next start reads.
        this.log(`dashboard: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      }
    });
    this.queue = next;
    return next;
  }

  private async refreshPlaces(): Promise<void> {
    const root = join(this.layout.root, PLACES_PREFIX);
    const stamps = await Promise.all(this.datasets.map(async (d) => (await stat(join(root, d.id)).catch(() => undefined))?.mtimeMs ?? 0));
    const stamp = stamps.join(',');
    if (stamp === this.placesStamp) return;
    this.placesStamp = stamp;
    this.aggregates.setPlaces(await readLocalPlaces(this.layout, this.datasets.map((d) => d.id)));
  }

  /** Stops watching and closes the engine once the queue is done. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.queue;
    this.closed = true;
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
