/**
 * Faults in the local pipeline: a store that fails part-way through writing
 * one raw object's outputs, and a crash after the outputs are written but
 * before the object is recorded as done. The retry loses nothing and
 * duplicates nothing. (The Lambda's retries are in the handler tests.)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DuckDBInstance } from '@duckdb/node-api';
import { getDataset } from '../../datasets/index.ts';
import { LocalObjectStore } from '../../functions/adapters/local-store.ts';
import { createTransformEngine } from '../../functions/core/engine.ts';
import { processRawObject } from '../../functions/core/process.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { TransformPipeline, type PipelineEvent, type PipelineFailure } from '../../local/pipeline.ts';
import { airReading, arrivalLine, TEST_KEY, tempDir } from '../helpers/fixtures.ts';

const RAW_KEY = 'raw/air_quality/dt=2026-11-29/air_quality-20261129T100000000Z-0badf00d.jsonl';

/** A raw object with readings on two event dates, a bad one and a redelivery. */
async function seed(root: string): Promise<void> {
  const lines = [
    arrivalLine({ dataset: 'air_quality', sensor: 'a', payload: airReading('2026-11-28T23:30:00+01:00') }),
    arrivalLine({ dataset: 'air_quality', sensor: 'a', payload: airReading('2026-11-29T11:00:00+01:00') }),
    arrivalLine({ dataset: 'air_quality', sensor: 'b', payload: airReading('2026-11-29T11:00:00+01:00') }),
    arrivalLine({ dataset: 'air_quality', sensor: 'b', payload: airReading('2026-11-29T11:00:00+01:00') }),
    arrivalLine({ dataset: 'air_quality', sensor: 'c', payload: airReading(undefined, { pm25: '12,5' }) }),
  ];
  await mkdir(join(root, 'raw/air_quality/dt=2026-11-29'), { recursive: true });
  await writeFile(join(root, RAW_KEY), lines.join('\n') + '\n');
}

/** A local store whose writes fail for the keys a test chooses, like a full disk would. */
class FlakyStore extends LocalObjectStore {
  constructor(
    root: string,
    private readonly fails: (key: string, attempt: number) => boolean,
  ) {
    super(root);
  }
  private attempts = 0;
  override async put(key: string, file: string): Promise<void> {
    this.attempts += 1;
    if (this.fails(key, this.attempts)) throw new Error(`injected: no space left on device writing ${key}`);
    return super.put(key, file);
  }
}

/** A data dir holding the seeded raw object, a scratch dir, and the engine with its state database. */
async function dataDirWithOneRawObject(): Promise<{ root: string; scratch: string; duckdb: DuckDBInstance }> {
  const root = await tempDir();
  const scratch = await tempDir();
  await seed(root);
  return { root, scratch, duckdb: await createTransformEngine({ path: join(root, 'state.duckdb') }) };
}

async function pipeline(store: LocalObjectStore, duckdb: DuckDBInstance, scratch: string) {
  const events: PipelineEvent[] = [];
  const failures: PipelineFailure[] = [];
  const p = new TransformPipeline({ store, duckdb, pseudonymKey: TEST_KEY, scratch, onResult: (e) => events.push(e), onFailure: (f) => failures.push(f) });
  await p.open();
  return { p, events, failures };
}

async function curatedCount(root: string): Promise<{ rows: number; distinct: number }> {
  const engine = await LocalQueryEngine.open(root, [getDataset('air_quality')]);
  const { rows } = await engine.query('SELECT count(*), count(DISTINCT message_id) FROM air_quality');
  engine.close();
  return { rows: Number(rows[0]?.[0]), distinct: Number(rows[0]?.[1]) };
}

describe('a write that fails part-way through an object', () => {
  it('leaves the object untransformed; the retry writes every output once', async () => {
    const { root, scratch, duckdb } = await dataDirWithOneRawObject();
    // The first curated file lands, the second write fails.
    const flaky = await pipeline(new FlakyStore(root, (_key, attempt) => attempt === 2), duckdb, scratch);
    expect(await flaky.p.untransformed()).toEqual([RAW_KEY]);
    flaky.p.enqueue(RAW_KEY);
    await flaky.p.idle();
    expect(flaky.failures.map((f) => f.error.message)).toEqual([expect.stringMatching(/^injected: no space left/)]);
    expect(flaky.events).toEqual([]);

    // The next start finds it untransformed and completes it.
    const retry = await pipeline(new LocalObjectStore(root), duckdb, scratch);
    expect(await retry.p.untransformed()).toEqual([RAW_KEY]);
    retry.p.enqueue(RAW_KEY);
    await retry.p.idle();
    expect(await retry.p.untransformed()).toEqual([]);
    await retry.p.close();
    expect(retry.failures).toEqual([]);
    expect(retry.events).toEqual([expect.objectContaining({ received: 5, curated: 3, quarantined: 1, duplicates: 1 })]);
    expect(await curatedCount(root)).toEqual({ rows: 3, distinct: 3 });
    duckdb.closeSync();
  });
});

describe('a crash between the curated write and the acknowledgement', () => {
  it('replays the object onto the same keys: nothing lost, nothing doubled', async () => {
    const { root, scratch, duckdb } = await dataDirWithOneRawObject();
    const first = await pipeline(new LocalObjectStore(root), duckdb, scratch);
    // Outputs and claims written, then the process dies before recording the object as done.
    const done = await processRawObject(new LocalObjectStore(root), getDataset('air_quality'), RAW_KEY, { duckdb, pseudonymKey: TEST_KEY, claimsTable: 'claims' }, scratch);
    expect(done.curated).toBe(3);
    expect(await first.p.untransformed()).toEqual([RAW_KEY]);

    const restart = await pipeline(new LocalObjectStore(root), duckdb, scratch);
    restart.p.enqueue(RAW_KEY);
    await restart.p.idle();
    expect(restart.events).toEqual([expect.objectContaining({ received: 5, curated: 3, quarantined: 1, duplicates: 1 })]);
    expect(await restart.p.untransformed()).toEqual([]);
    await restart.p.close();
    expect(await curatedCount(root)).toEqual({ rows: 3, distinct: 3 });
    duckdb.closeSync();
  });
});
