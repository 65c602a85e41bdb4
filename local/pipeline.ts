import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
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

/** Claims older than this are forgotten; a redelivery arrives within minutes, not days. */
export const CLAIM_RETENTION_DAYS = 7;

const CLAIMS_TABLE = 'claims';

/** The outcome of one raw object, reported to listeners. */
export interface PipelineEvent extends TransformCounts {
  readonly datasetId: string;
  readonly rawKey: string;
}

/** A raw object that failed; it stays untransformed and is retried at the next start. */
export interface PipelineFailure {
  readonly rawKey: string;
  readonly error: Error;
}

export interface PipelineOptions {
  readonly store: LocalObjectStore;
  readonly duckdb: DuckDBInstance;
  readonly pseudonymKey: Uint8Array;
  readonly scratch: string;
  readonly policy?: TransformPolicy;
  readonly onResult?: (event: PipelineEvent) => void;
  readonly onFailure?: (failure: PipelineFailure) => void;
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

  constructor(private readonly options: PipelineOptions) {}

  /** Creates the bookkeeping tables and forgets old claims. */
  async open(): Promise<void> {
    this.conn = await this.options.duckdb.connect();
    await this.conn.run(claimsTableSql(CLAIMS_TABLE));
    await this.conn.run(pruneClaimsSql(CLAIMS_TABLE, CLAIM_RETENTION_DAYS));
    await this.conn.run(
      `CREATE TABLE IF NOT EXISTS transformed (raw_key VARCHAR PRIMARY KEY, transformed_at TIMESTAMP NOT NULL,
         received INTEGER, duplicates INTEGER, curated INTEGER, quarantined INTEGER)`,
    );
  }

  /** Raw objects in the raw zone that were never recorded as transformed. */
  async untransformed(): Promise<string[]> {
    const done = new Set(
      ((await this.connection().runAndReadAll('SELECT raw_key FROM transformed')).getRowObjectsJS() as { raw_key: string }[]).map(
        (r) => r.raw_key,
      ),
    );
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

  async close(): Promise<void> {
    await this.idle();
    this.conn?.closeSync();
    this.conn = undefined;
  }

  private connection(): DuckDBConnection {
    if (!this.conn) throw new Error('pipeline is not open');
    return this.conn;
  }

  private async drain(): Promise<void> {
    for (let key = this.queue.shift(); key !== undefined; key = this.queue.shift()) {
      try {
        const counts = await this.process(key);
        await this.connection().run(
          'INSERT OR REPLACE INTO transformed VALUES ($key, now()::TIMESTAMP, $received, $duplicates, $curated, $quarantined)',
          { key, ...counts },
        );
        this.options.onResult?.({ datasetId: parseRawKey(key).datasetId, rawKey: key, ...counts });
      } catch (error) {
        this.options.onFailure?.({ rawKey: key, error: error instanceof Error ? error : new Error(String(error)) });
      } finally {
        this.queued.delete(key);
      }
    }
  }

  private async process(key: string): Promise<TransformCounts> {
    const { datasetId } = parseRawKey(key);
    if (datasetId === UNROUTED) return this.quarantineUnrouted(key);
    const dataset = findDataset(datasetId);
    if (!dataset) throw new Error(`raw object ${key} belongs to no dataset in the registry`);
    const { received, duplicates, curated, quarantined } = await processRawObject(
      this.options.store,
      dataset,
      key,
      {
        duckdb: this.options.duckdb,
        pseudonymKey: this.options.pseudonymKey,
        policy: this.options.policy,
        claimsTable: CLAIMS_TABLE,
      },
      this.options.scratch,
    );
    return { received, duplicates, curated, quarantined };
  }

  /**
   * Messages on a Datastroom topic naming no known dataset: each gets a
   * quarantine record with the reason. Their payload stays in raw only, since
   * nothing says whether it holds personal data.
   */
  private async quarantineUnrouted(key: string): Promise<TransformCounts> {
    const { store, scratch } = this.options;
    const records: QuarantineRecord[] = [];
    const lines = createInterface({ input: createReadStream(await store.fetch(key)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const arrival = JSON.parse(line) as { messageId: string; topic: string; receivedAt: string; payloadBytes: number };
      records.push({
        reason: `topic ${JSON.stringify(arrival.topic)} names no dataset: publish to datastroom/<dataset>/<sensorId>`,
        messageId: arrival.messageId,
        sensorId: null,
        receivedAt: arrival.receivedAt,
        rawKey: key,
        payloadOmitted: `${arrival.payloadBytes} bytes kept in the raw object only`,
      });
    }
    if (records.length > 0) {
      const dir = await mkdtemp(join(scratch, 'unrouted-'));
      try {
        const file = join(dir, 'quarantine.jsonl');
        await writeFile(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
        await store.put(quarantineKey(parseRawKey(key)), file);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    return { received: records.length, duplicates: 0, curated: 0, quarantined: records.length };
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}
