/**
 * The transform Lambda: SQS batches of raw-object events in, the core
 * transform on each, curated and quarantine objects out. Thin on purpose:
 * configuration, clients and the DuckDB engine are set up once per
 * container; the work is in the core the local runtime runs too.
 */
import { mkdir, rm } from 'node:fs/promises';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { s3ClientFromEnv, S3ObjectStore } from '../adapters/s3-store.ts';
import { pseudonymKeyFromSecret } from '../adapters/secrets.ts';
import { createTransformEngine } from '../core/engine.ts';
import type { TransformEnv } from '../core/transform.ts';
import { metricLine, processBatch, type BatchResponse } from './batch.ts';
import { readTransformConfig } from './config.ts';

const SCRATCH = '/tmp/datastroom';
const config = readTransformConfig(process.env);
const store = new S3ObjectStore(s3ClientFromEnv(), { raw: config.rawBucket, curated: config.curatedBucket });
const secrets = new SecretsManagerClient({});

let env: Promise<TransformEnv> | undefined;
function transformEnv(): Promise<TransformEnv> {
  env ??= (async () => {
    // An environment Lambda reuses after a timeout or an out-of-memory end keeps /tmp: what a cut-off
    // transform left there (a raw object's copy, plates in clear) goes before anything else runs.
    // One invocation at a time per environment, so nothing of a running transform is there.
    await rm(SCRATCH, { recursive: true, force: true });
    await mkdir(SCRATCH, { recursive: true, mode: 0o700 });
    const [pseudonymKey, duckdb] = await Promise.all([
      pseudonymKeyFromSecret(secrets, config.pseudonymSecretArn),
      createTransformEngine({ memoryLimitMb: config.duckdbMemoryMb, tempDirectory: `${SCRATCH}/spill` }),
    ]);
    return { duckdb, pseudonymKey, policy: config.policy, memoryBudgetMb: config.memoryBudgetMb };
  })().catch((error: unknown) => {
    env = undefined; // a failed cold start is retried by the next batch
    throw error;
  });
  return env;
}

export async function handler(event: unknown): Promise<BatchResponse> {
  return processBatch(event, {
    store,
    env: transformEnv,
    scratch: SCRATCH,
    log: (level, message, fields) => (level === 'error' ? console.error : console.log)(JSON.stringify({ level, message, ...fields })),
    onResult: (datasetId, result) => console.log(metricLine(config.metricsNamespace, datasetId, result)),
  });
}
