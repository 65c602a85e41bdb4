/**
 * One measured job of the Firehose benchmark, in its own process so that its
 * peak resident memory is its own: one DuckDB engine, sized as the Lambda
 * sizes it for a memory size and given one thread (one vCPU), transforms the
 * same Firehose object over and over, as a warm function transforms one
 * object after another.
 * Prints one JSON line: { readings, curatedBytes, coldMs, warmMs: [...], maxRssMb, canonicalised }.
 *
 *   firehose-job.ts <raw file> <raw key> <function memory MB> <runs>
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { getDataset } from '../datasets/index.ts';
import { createTransformEngine } from '../functions/core/engine.ts';
import { transformRawObject } from '../functions/core/transform.ts';
import { readTransformConfig } from '../functions/transform/config.ts';
import { duckdbMemoryMb } from '../infra/sizing.ts';

const [rawFile, rawKey, memoryArg, runsArg] = process.argv.slice(2);
if (!rawFile || !rawKey || !memoryArg || !runsArg) throw new Error('usage: firehose-job.ts <raw file> <raw key> <function memory MB> <runs>');
// The settings the function reads from the environment the construct and Lambda give it.
const config = readTransformConfig({
  RAW_BUCKET: 'bench',
  CURATED_BUCKET: 'bench',
  PSEUDONYM_SECRET_ARN: 'bench',
  DUCKDB_MEMORY_MB: String(duckdbMemoryMb(Number(memoryArg))),
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: memoryArg,
});

const root = await mkdtemp(join(tmpdir(), 'bench-firehose-'));
const started = performance.now();
// One thread: a function below 1,769 MB has less than one vCPU, and a second thread only contends for it.
const duckdb = await createTransformEngine({ memoryLimitMb: config.duckdbMemoryMb, tempDirectory: join(root, 'spill'), threads: 1 });
const once = async (i: number) => {
  const workDir = join(root, `work-${i}`);
  await mkdir(workDir);
  const t0 = performance.now();
  const result = await transformRawObject(
    { dataset: getDataset('air_quality'), rawKey, rawFile, workDir },
    { duckdb, pseudonymKey: Buffer.alloc(32, 1), memoryBudgetMb: config.memoryBudgetMb },
  );
  const ms = performance.now() - t0;
  let curatedBytes = 0;
  for (const output of result.outputs) if (output.zone === 'curated') curatedBytes += (await stat(output.file)).size;
  await rm(workDir, { recursive: true, force: true });
  return { ms, result, curatedBytes };
};
const first = await once(0);
const coldMs = performance.now() - started;
const warmMs: number[] = [];
for (let i = 1; i <= Number(runsArg); i++) warmMs.push((await once(i)).ms);
duckdb.closeSync();
await rm(root, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({ readings: first.result.received, curatedBytes: first.curatedBytes, coldMs, warmMs, maxRssMb: process.resourceUsage().maxRSS / 1024, canonicalised: first.result.canonicalised })}\n`,
);
