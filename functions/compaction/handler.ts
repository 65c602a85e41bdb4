/**
 * The compaction Lambda, run by a schedule: settled curated partitions
 * rewritten into few large Parquet files, and compacted files past their
 * readings' retention removed. Thin on purpose: the work is in the core the
 * local runtime runs too.
 */
import { mkdirSync } from 'node:fs';
import { registry } from '../../datasets/index.ts';
import { s3ClientFromEnv } from '../adapters/s3-store.ts';
import { S3Partitions } from '../adapters/s3-partitions.ts';
import { lazyTransformEngine } from '../core/engine.ts';
import { readCompactionConfig } from './config.ts';
import { compactionMetricLine, runCompactionJob, type CompactionRunSummary } from './job.ts';

const SCRATCH = '/tmp/datastroom-compaction';
const config = readCompactionConfig(process.env);
const store = new S3Partitions(s3ClientFromEnv(), config.curatedBucket);

const duckdb = lazyTransformEngine({ memoryLimitMb: config.duckdbMemoryMb, tempDirectory: `${SCRATCH}/spill` });

/** A run that left partitions as they were: the invocation fails, so the errors alarm speaks. */
export class CompactionRunError extends Error {
  constructor(summary: CompactionRunSummary) {
    super(`${summary.failed.length} partition(s) could not be compacted: ${summary.failed.map((f) => `${f.datasetId} dt=${f.dt}: ${f.error}`).join('; ')}`);
    this.name = 'CompactionRunError';
  }
}

export async function handler(_event: unknown, context?: { getRemainingTimeInMillis?: () => number }): Promise<CompactionRunSummary> {
  mkdirSync(SCRATCH, { recursive: true });
  const summary = await runCompactionJob({
    store,
    duckdb,
    scratch: SCRATCH,
    datasets: registry,
    policy: config.policy,
    maxLatenessDays: config.maxLatenessDays,
    now: new Date(),
    remainingMs: context?.getRemainingTimeInMillis ? () => context.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY : undefined,
    log: (level, message, fields) => (level === 'error' ? console.error : console.log)(JSON.stringify({ level, message, ...fields })),
  });
  console.log(compactionMetricLine(config.metricsNamespace, summary));
  if (summary.failed.length > 0) throw new CompactionRunError(summary);
  return summary;
}
