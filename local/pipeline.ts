import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { z } from 'zod';
import { findDataset } from '../datasets/index.ts';
import { parseRawKey, quarantineKey, UNROUTED } from '../functions/core/keys.ts';
import { processRawObject } from '../functions/core/process.ts';
import type { TransformPolicy } from '../functions/core/reading.ts';
import {
  claimsTableSql,
  pruneClaimsSql,
  type QuarantineRecord,
  type TransformCounts,
} from '../functions/core/transform.ts';
import type { LocalObjectStore } from '../functions/adapters/local-store.ts';
import { isBlankLine, JsonLinesWriter, lineId, numberedLines } from '../functions/core/raw-lines.ts';
import type { CompactedSources } from '../functions/core/compaction.ts';
import { RETRY_POLICY, type FailedObjects, type RetryPolicy } from './failed-objects.ts';

/**
 * Minutes a message id is remembered across raw objects. Measured with a
 * 500-sensor fleet at one reading a minute (npm run bench): looking an
 * object's ids up in a table of seven days (5 million ids) took eight times
 * as long as with none, as the lookup scans the table; a window of an hour
 * holds 30,000 ids, which costs the same whatever the days of history. A
 * QoS 1 redelivery comes within seconds or minutes of the first copy; a
 * duplicate that comes later is removed when its partition is compacted.
 */
export const CLAIM_WINDOW_MINUTES = 60;

/** How often claims older than the window are removed while the pipeline runs. */
const CLAIM_PRUNE_INTERVAL_MS = 60_000;

const CLAIMS_TABLE = 'claims';

/** The outcome of one raw object, reported to listeners. */
export interface PipelineEvent extends TransformCounts {
  readonly datasetId: string;
  readonly rawKey: string;
  /** The curated objects it wrote (one per event date), for whoever summarises new readings. */
  readonly curatedKeys: readonly string[];
}

/**
 * A raw object whose transform failed. It stays untransformed: tried again
 * after a wait, and parked once it failed as often as the retry policy allows.
 */
export interface PipelineFailure {
  readonly rawKey: string;
  readonly error: Error;
  /** Attempts so far, across runs. */
  readonly attempts: number;
  /** Whether it is parked: no more automatic tries. */
  readonly parked: boolean;
  /** Milliseconds until the next try, when it is not parked. */
  readonly retryInMs?: number;
}

export interface PipelineOptions {
  readonly store: LocalObjectStore;
  readonly duckdb: DuckDBInstance;
  readonly pseudonymKey: Uint8Array;
  readonly scratch: string;
  readonly policy?: TransformPolicy;
  readonly onResult?: (event: PipelineEvent) => void;
  readonly onFailure?: (failure: PipelineFailure) => void;
  /**
   * Where failures are recorded: then an object is tried a bounded number of
   * times (RETRY_POLICY) and parked after that, never blocking the others,
   * whether or not the ledger can be written at the time.
   * @default - a failed object is retried at the next start only, without limit
   */
  readonly failures?: FailedObjects;
  /** @default RETRY_POLICY */
  readonly retryPolicy?: RetryPolicy;
  /** Which raw objects compaction merged into each partition. @default - none: every output is written */
  readonly compacted?: CompactedSources;
  /** @default CLAIM_WINDOW_MINUTES */
  readonly claimWindowMinutes?: number;
}

/**
 * The local counterpart of the object-created event, the queue and the
 * transform Lambda: sealed raw objects are transformed one at a time, and
 * each is recorded as done only after its outputs are in place, so a crash
 * at any point leads to a replay (same keys, same contents), never a loss.
 */
export class TransformPipeline {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private running: Promise<void> | undefined;
  private conn: DuckDBConnection | undefined;
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private watcher: NodeJS.Timeout | undefined;
  private closed = false;
  /** Whoever holds the turn: the transform of one object, or a compaction's swap. */
  private turn: Promise<void> = Promise.resolve();
  private lastPrune = 0;

  constructor(private readonly options: PipelineOptions) {}

  private get retryPolicy(): RetryPolicy {
    return this.options.retryPolicy ?? RETRY_POLICY;
  }

  /** Creates the bookkeeping tables and forgets old claims. */
  async open(): Promise<void> {
    this.conn = await this.options.duckdb.connect();
    await this.conn.run(claimsTableSql(CLAIMS_TABLE));
    await this.pruneClaims();
    await this.conn.run(
      `CREATE TABLE IF NOT EXISTS transformed (raw_key VARCHAR PRIMARY KEY, transformed_at TIMESTAMP NOT NULL,
         received INTEGER, duplicates INTEGER, curated INTEGER, quarantined INTEGER)`,
    );
  }

  /** Raw objects in the raw zone that were never recorded as transformed, except those parked as failed. */
  async untransformed(): Promise<string[]> {
    const done = new Set(
      ((await this.connection().runAndReadAll('SELECT raw_key FROM transformed')).getRowObjectsJS() as { raw_key: string }[]).map(
        (r) => r.raw_key,
      ),
    );
    for (const failed of (await this.options.failures?.list()) ?? []) if (failed.parked) done.add(failed.rawKey);
    const keys: string[] = [];
    const rawRoot = this.options.store.pathOf('raw');
    for (const dataset of await readdirOrEmpty(rawRoot)) {
      for (const partition of await readdirOrEmpty(join(rawRoot, dataset))) {
        for (const name of await readdirOrEmpty(join(rawRoot, dataset, partition))) {
          const key = `raw/${dataset}/${partition}/${name}`;
          if (name.endsWith('.jsonl') && !done.has(key)) keys.push(key);
        }
      }
    }
    return keys.sort();
  }

  /** Queues a raw object for transformation. */
  enqueue(key: string): void {
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves once every queued object has been processed. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Objects waiting to be transformed. */
  get backlog(): number {
    return this.queue.length;
  }

  /**
   * Takes up objects an operator released (`datastroom failed --retry`) while
   * this runs, checking the ledger every few seconds.
   */
  watchReleased(intervalMs = 2000): void {
    const failures = this.options.failures;
    if (!failures || this.watcher) return;
    this.watcher = setInterval(() => {
      void failures
        .list()
        .then((objects) => {
          for (const o of objects) if (!o.parked && o.attempts === 0 && !this.retries.has(o.rawKey) && !this.closed) this.enqueue(o.rawKey);
        })
        .catch(() => undefined);
    }, intervalMs);
    this.watcher.unref();
  }

  /** Finishes the queue; retries still waiting are left for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watcher);
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    await this.idle();
    this.conn?.closeSync();
    this.conn = undefined;
  }

  /**
   * Runs `task` between two objects: no transform writes while it runs. A
   * compaction's swap takes its turn here, so no object is written into a
   * partition as it is swapped.
   */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.turn.then(task);
    this.turn = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async pruneClaims(): Promise<void> {
    this.lastPrune = Date.now();
    await this.connection().run(pruneClaimsSql(CLAIMS_TABLE, this.options.claimWindowMinutes ?? CLAIM_WINDOW_MINUTES));
  }

  private connection(): DuckDBConnection {
    if (!this.conn) throw new Error('pipeline is not open');
    return this.conn;
  }

  private async drain(): Promise<void> {
    for (let key = this.queue.shift(); key !== undefined; key = this.queue.shift()) {
      try {
        if (Date.now() - this.lastPrune >= CLAIM_PRUNE_INTERVAL_MS) await this.pruneClaims();
        const { curatedKeys, ...counts } = await this.exclusive(() => this.process(key));
        await this.connection().run(
          'INSERT OR REPLACE INTO transformed VALUES ($key, now()::TIMESTAMP, $received, $duplicates, $curated, $quarantined)',
          { key, ...counts },
        );
        await this.options.failures?.recordSuccess(key).catch(() => undefined);
        this.options.onResult?.({ datasetId: parseRawKey(key).datasetId, rawKey: key, curatedKeys, ...counts });
      } catch (error) {
        await this.failed(key, error instanceof Error ? error : new Error(String(error)));
      } finally {
        this.queued.delete(key);
      }
    }
  }

  /**
   * Records a failure and schedules the next try, or parks the object; the
   * queue goes on either way. A failure the ledger cannot take (the disk that
   * failed the transform is full) is kept in memory and follows the same
   * schedule: it is counted, tried again in this run, and parked after as
   * many attempts.
   */
  private async failed(key: string, error: Error): Promise<void> {
    const failures = this.options.failures;
    if (!failures) {
      this.options.onFailure?.({ rawKey: key, error, attempts: 1, parked: false });
      return;
    }
    const { entry, unrecorded } = await failures.recordFailure(key, error, this.retryPolicy.maxAttempts);
    const reported = unrecorded ? new Error(`${error.message} (not in the failed-objects ledger, kept for this run only: ${unrecorded.message})`) : error;
    if (entry.parked || this.closed) {
      this.options.onFailure?.({ rawKey: key, error: reported, attempts: entry.attempts, parked: entry.parked });
      return;
    }
    const delays = this.retryPolicy.delaysMs;
    const retryInMs = delays[Math.min(entry.attempts - 1, delays.length - 1)] ?? 5000;
    this.options.onFailure?.({ rawKey: key, error: reported, attempts: entry.attempts, parked: false, retryInMs });
    const timer = setTimeout(() => {
      this.retries.delete(key);
      if (!this.closed) this.enqueue(key);
    }, retryInMs);
    timer.unref();
    this.retries.set(key, timer);
  }

  private async process(key: string): Promise<TransformCounts & { curatedKeys: string[] }> {
    const { datasetId } = parseRawKey(key);
    if (datasetId === UNROUTED) return { ...(await this.quarantineUnrouted(key)), curatedKeys: [] };
    const dataset = findDataset(datasetId);
    if (!dataset) throw new Error(`raw object ${key} belongs to no dataset in the registry`);
    const { received, duplicates, curated, quarantined, outputs } = await processRawObject(
      this.options.store,
      dataset,
      key,
      {
        duckdb: this.options.duckdb,
        pseudonymKey: this.options.pseudonymKey,
        policy: this.options.policy,
        claimsTable: CLAIMS_TABLE,
        compacted: this.options.compacted,
      },
      this.options.scratch,
    );
    return { received, duplicates, curated, quarantined, curatedKeys: outputs.filter((o) => o.zone === 'curated').map((o) => o.key) };
  }

  /**
   * Messages on a Datastroom topic naming no known dataset: each gets a
   * quarantine record with the reason. Their payload stays in raw only, since
   * nothing says whether it holds personal data.
   */
  private async quarantineUnrouted(key: string): Promise<TransformCounts> {
    const { store, scratch } = this.options;
    const dir = await mkdtemp(join(scratch, 'unrouted-'));
    try {
      const out = new JsonLinesWriter(join(dir, 'quarantine.jsonl.gz'), { gzip: true });
      try {
        for await (const { n, text } of numberedLines(await store.fetch(key))) {
          if (isBlankLine(text)) continue;
          const arrival = UnroutedArrival.safeParse(safeJson(text));
          const record: QuarantineRecord = arrival.success
            ? {
                reason: `topic ${JSON.stringify(arrival.data.topic)} names no dataset: publish to datastroom/<dataset>/<sensorId>`,
                messageId: arrival.data.messageId,
                sensorId: null,
                receivedAt: arrival.data.receivedAt,
                rawKey: key,
                payloadOmitted: `${arrival.data.payloadBytes} bytes kept in the raw object only`,
              }
            : { reason: `raw line ${n} is not an arrival on a topic`, messageId: lineId(parseRawKey(key).name, n), sensorId: null, receivedAt: null, rawKey: key, payloadOmitted: 'kept in the raw object only' };
          await out.write(record);
        }
        await out.close();
      } catch (error) {
        out.destroy();
        throw error;
      }
      if (out.count > 0) await store.put(quarantineKey(parseRawKey(key)), out.file);
      return { received: out.count, duplicates: 0, curated: 0, quarantined: out.count };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** One line of an unrouted raw object, as the ingest writes it. */
const UnroutedArrival = z.object({ messageId: z.string(), topic: z.string(), receivedAt: z.string(), payloadBytes: z.number() });

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}
