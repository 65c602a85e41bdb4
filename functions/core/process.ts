import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Dataset } from '../../datasets/index.ts';
import type { ObjectStore } from './store.ts';
import { transformRawObject, type TransformEnv, type TransformResult } from './transform.ts';

/**
 * Fetches a raw object, transforms it and stores every output. Outputs are
 * stored before this resolves, so a caller that acknowledges afterwards (the
 * SQS batch, the local queue) never loses one; a retry rewrites the same keys.
 */
export async function processRawObject(
  store: ObjectStore,
  dataset: Dataset,
  rawKey: string,
  env: TransformEnv,
  scratchRoot: string = tmpdir(),
): Promise<TransformResult> {
  const workDir = await mkdtemp(join(scratchRoot, 'transform-'));
  try {
    const rawFile = await store.fetch(rawKey, workDir);
    const result = await transformRawObject({ dataset, rawKey, rawFile, workDir }, env);
    for (const output of result.outputs) await store.put(output.key, output.file);
    return result;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
