/**
 * A raw object that fails for a reason other than its readings (storage, a
 * bug) is tried a bounded number of times, then parked: visible in the
 * summary and in `datastroom failed`, never blocking the objects behind it,
 * and taken up again once an operator releases it.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LocalObjectStore } from '../../functions/adapters/local-store.ts';
import { createTransformEngine } from '../../functions/core/engine.ts';
import { dataDirLayout, ensureDataDir, type DataDirLayout } from '../../local/data-dir.ts';
import { FailedObjects } from '../../local/failed-objects.ts';
import { TransformPipeline, type PipelineEvent, type PipelineFailure } from '../../local/pipeline.ts';
import { airReading, arrivalLine, TEST_KEY, tempDir } from '../helpers/fixtures.ts';
import { startDev, until } from '../helpers/dev-process.ts';

const exec = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/datastroom.mjs');

const keyOf = (dataset: string, n: number) => `raw/${dataset}/dt=2026-11-29/${dataset}-20261129T10000${n}000Z-0000000${n}.jsonl`;
const BROKEN = keyOf('air_quality', 1);
const FINE = keyOf('noise', 2);

/** A data dir with one air-quality and one noise raw object of two readings each. */
async function seed(root: string): Promise<void> {
  const write = async (key: string, lines: string[]) => {
    await mkdir(join(root, key, '..'), { recursive: true });
    await writeFile(join(root, key), lines.join('\n') + '\n');
  };
  await write(BROKEN, [
    arrivalLine({ dataset: 'air_quality', sensor: 'a', payload: airReading('2026-11-29T11:00:00+01:00') }),
    arrivalLine({ dataset: 'air_quality', sensor: 'b', payload: airReading('2026-11-29T11:00:00+01:00') }),
  ]);
  await write(FINE, [
    arrivalLine({ dataset: 'noise', sensor: 'n', payload: { ts: '2026-11-29T11:00:00+01:00', laeq: 55, lamax: 70 } }),
    arrivalLine({ dataset: 'noise', sensor: 'm', payload: { ts: '2026-11-29T11:00:00+01:00', laeq: 56, lamax: 71 } }),
  ]);
}

/** A store whose writes of one dataset's curated objects fail, as a full or broken disk would. */
class BrokenStore extends LocalObjectStore {
  broken = true;
  override async put(key: string, file: string): Promise<void> {
    if (this.broken && key.startsWith('curated/air_quality/')) throw new Error(`injected: EIO writing ${key}`);
    return super.put(key, file);
  }
}

/** A pipeline over a seeded data dir whose air-quality writes fail; what it reports is collected. */
async function brokenPipeline(options: { failures?: (layout: DataDirLayout) => FailedObjects; onFailure?: (store: BrokenStore) => void } = {}) {
  const root = await tempDir();
  await seed(root);
  const layout = dataDirLayout(root);
  await ensureDataDir(layout);
  const duckdb = await createTransformEngine({ path: join(root, 'state', 'platform.duckdb') });
  const store = new BrokenStore(root);
  const failures = options.failures?.(layout) ?? FailedObjects.of(layout);
  const events: PipelineEvent[] = [];
  const failed: PipelineFailure[] = [];
  const pipeline = new TransformPipeline({
    store,
    duckdb,
    pseudonymKey: TEST_KEY,
    scratch: layout.scratch,
    failures,
    retryPolicy: { maxAttempts: 3, delaysMs: [20, 40] },
    onResult: (e) => events.push(e),
    onFailure: (f) => {
      failed.push(f);
      options.onFailure?.(store);
    },
  });
  await pipeline.open();
  const close = async () => {
    await pipeline.close();
    duckdb.closeSync();
  };
  return { root, store, failures, events, failed, pipeline, close };
}

describe('a raw object that keeps failing', () => {
  it('is tried three times, parked, never blocks the others, and is taken up again once released', async () => {
    const { root, store, failures, events, failed, pipeline, close } = await brokenPipeline();
    expect(await pipeline.untransformed()).toEqual([BROKEN, FINE]);
    for (const key of await pipeline.untransformed()) pipeline.enqueue(key);
    pipeline.watchReleased(50);
    await until(() => failed.some((f) => f.parked), 'the broken object to be parked');

    // The object behind it went through at once; the broken one was tried exactly three times.
    expect(events.map((e) => [e.rawKey, e.curated])).toEqual([[FINE, 2]]);
    expect(failed.map((f) => [f.rawKey, f.attempts, f.parked, f.retryInMs])).toEqual([
      [BROKEN, 1, false, 20],
      [BROKEN, 2, false, 40],
      [BROKEN, 3, true, undefined],
    ]);
    const [entry] = await failures.list();
    expect(entry).toMatchObject({ rawKey: BROKEN, attempts: 3, parked: true, lastError: expect.stringMatching(/^injected: EIO writing curated\/air_quality\//) });
    // Parked: not picked up at the next start.
    expect(await pipeline.untransformed()).toEqual([]);

    // The disk is repaired and an operator releases it, in another process, while the pipeline runs.
    store.broken = false;
    const { stdout } = await exec(process.execPath, [BIN, 'failed', '--retry', '--data-dir', root]);
    expect(stdout).toMatch(/^released 1 raw object;/);
    await until(() => events.length === 2, 'the released object to be transformed');
    expect(events.map((e) => [e.rawKey, e.curated])).toEqual([[FINE, 2], [BROKEN, 2]]);
    expect(await failures.list()).toEqual([]);
    await close();
  });
});

describe('a raw object that fails while the ledger cannot be written either (a full disk)', () => {
  it('is kept in memory: counted, tried again in the run on the same schedule, parked after as many attempts, and written once the ledger can be', async () => {
    let ledgerFull = true;
    let refusedWrites = 0;
    const { failures, events, failed, pipeline, close } = await brokenPipeline({
      failures: (layout) =>
        FailedObjects.of(layout, {
          write: async (file, text) => {
            if (ledgerFull) {
              refusedWrites += 1;
              throw Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), { code: 'ENOSPC' });
            }
            await writeFile(file, text);
          },
        }),
    });
    for (const key of await pipeline.untransformed()) pipeline.enqueue(key);
    await until(() => failed.some((f) => f.parked), 'the broken object to be parked');

    // Three attempts in this run, each reported with why the ledger does not hold it.
    expect(failed.map((f) => [f.rawKey, f.attempts, f.parked, f.retryInMs])).toEqual([
      [BROKEN, 1, false, 20],
      [BROKEN, 2, false, 40],
      [BROKEN, 3, true, undefined],
    ]);
    for (const f of failed) expect(f.error.message).toMatch(/^injected: EIO writing curated\/air_quality\/.*\(not in the failed-objects ledger, kept for this run only: ENOSPC: no space left/);
    expect(refusedWrites).toBe(3);
    expect(events.map((e) => [e.rawKey, e.curated])).toEqual([[FINE, 2]]);
    // What the run's summary counts: the object is failed and parked, though the file does not know it.
    expect((await failures.list()).map((o) => [o.rawKey, o.attempts, o.parked])).toEqual([[BROKEN, 3, true]]);
    expect(await pipeline.untransformed()).toEqual([]);
    expect(await new FailedObjects(failures.file).list()).toEqual([]);

    // Space returns: the next change to the ledger writes what was kept in memory too.
    ledgerFull = false;
    await failures.recordFailure(FINE, new Error('another failure'), 3);
    expect((await new FailedObjects(failures.file).list()).map((o) => [o.rawKey, o.attempts, o.parked])).toEqual([
      [BROKEN, 3, true],
      [FINE, 1, false],
    ]);
    await close();
  });

  it('is retried in the run and curated once the disk has room again', async () => {
    const { failures, events, failed, pipeline, close } = await brokenPipeline({
      failures: (layout) =>
        FailedObjects.of(layout, {
          write: async () => {
            throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
          },
        }),
      // The disk has room again before the second try.
      onFailure: (store) => {
        store.broken = false;
      },
    });
    for (const key of await pipeline.untransformed()) pipeline.enqueue(key);
    await until(() => events.length === 2, 'both objects to be transformed');
    expect(failed.map((f) => [f.rawKey, f.attempts, f.parked])).toEqual([[BROKEN, 1, false]]);
    expect(failed[0]!.error.message).toMatch(/kept for this run only: ENOSPC/);
    expect(events.map((e) => [e.rawKey, e.curated]).sort()).toEqual([[BROKEN, 2], [FINE, 2]].sort());
    expect(await failures.list()).toEqual([]);
    await close();
  });
});

describe('datastroom dev and datastroom failed', () => {
  it('report a failing object in the summary, park it after three starts, and list it', async () => {
    const root = await tempDir();
    await seed(root);
    // curated/air_quality is a file: no partition can be created under it (even as root).
    await mkdir(join(root, 'curated'), { recursive: true });
    await writeFile(join(root, 'curated', 'air_quality'), 'not a directory');

    const run = async () => {
      const dev = await startDev(root, ['--duration', '1']);
      expect(await dev.exited).toBe(0);
      return { summary: dev.summary(), stderr: dev.stderr() };
    };
    const first = await run();
    expect(first.summary).toMatchObject({ received: 2, curated: 2, failedObjects: 1, parkedObjects: 0 });
    expect(first.stderr).toMatch(/transform of raw\/air_quality\/\S+ failed \(attempt 1 of 3\): .*; trying again in 5 s/);
    await run();
    const third = await run();
    expect(third.summary).toMatchObject({ received: 0, failedObjects: 1, parkedObjects: 1 });
    expect(third.stderr).toMatch(/failed \(attempt 3 of 3\): .*; parked: `npx datastroom failed` lists it/);
    expect(third.stderr).toMatch(/1 raw object failed to transform \(1 parked: npx datastroom failed\)/);

    // Parked: the next start says so and leaves it alone.
    const fourth = await run();
    expect(fourth.stderr).toMatch(/1 raw object is parked as failed: `npx datastroom failed` lists them/);
    expect(fourth.stderr).not.toMatch(/attempt 4/);

    const listed = JSON.parse((await exec(process.execPath, [BIN, 'failed', '--json', '--data-dir', root])).stdout) as Record<string, unknown>[];
    expect(listed).toEqual([expect.objectContaining({ raw_key: BROKEN, state: 'parked', attempts: 3 })]);

    // Repaired and released: the next start curates it.
    await rm(join(root, 'curated', 'air_quality'));
    await exec(process.execPath, [BIN, 'failed', '--retry', BROKEN, '--data-dir', root]);
    const fixed = await run();
    expect(fixed.summary).toMatchObject({ received: 2, curated: 2, failedObjects: 0, parkedObjects: 0 });
    await expect(exec(process.execPath, [BIN, 'failed', '--retry', 'raw/nope.jsonl', '--data-dir', root])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/not parked as failed: raw\/nope\.jsonl/),
    });
  }, 120_000);
});
