/**
 * The publishing Lambda, run by a schedule: the open-data portal of the open
 * datasets written to the portal bucket, which CloudFront serves. Thin on
 * purpose: the work is in the core `datastroom publish` runs too.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { publishPortal, type PortalSummary } from '../../publish/portal.ts';
import { s3PortalSink, s3PortalSource } from '../adapters/portal-s3.ts';
import { s3ClientFromEnv } from '../adapters/s3-store.ts';
import { lazyTransformEngine } from '../core/engine.ts';
import { readPublishingConfig } from './config.ts';

const SCRATCH = '/tmp/datastroom-publishing';
const config = readPublishingConfig(process.env);
const client = s3ClientFromEnv();
/** The dashboard's page, bundled beside the function's code (see infra/constructs/publishing.ts). */
const WEB_ASSETS = join(process.env.LAMBDA_TASK_ROOT ?? process.cwd(), 'web');

const duckdb = lazyTransformEngine({ memoryLimitMb: config.duckdbMemoryMb, tempDirectory: `${SCRATCH}/spill` });

export async function handler(): Promise<PortalSummary> {
  const downloads = join(SCRATCH, 'curated');
  const workDir = join(SCRATCH, 'work');
  mkdirSync(downloads, { recursive: true });
  mkdirSync(workDir, { recursive: true });
  const conn = await (await duckdb()).connect();
  try {
    const summary = await publishPortal(s3PortalSource(client, config.curatedBucket, downloads), s3PortalSink(client, config.portalBucket), conn, {
      baseUrl: config.baseUrl,
      publisher: config.publisher,
      contactEmail: config.contactEmail,
      workDir,
      webAssetsDir: existsSync(join(WEB_ASSETS, 'index.html')) ? WEB_ASSETS : undefined,
    });
    console.log(JSON.stringify({ level: 'info', message: 'portal published', ...summary }));
    return summary;
  } finally {
    conn.closeSync();
    await rm(downloads, { recursive: true, force: true });
  }
}
