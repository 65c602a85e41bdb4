/**
 * Synthesizes the real CDK app (infra/app.ts, run as `cdk synth` runs it,
 * with cdk.json's context and every policy-validation plugin) into a
 * temporary directory. Bundling of the transform is skipped: its asset is
 * checked by test/infra/asset.test.ts, and no check here reads it.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { tempDir } from '../helpers/fixtures.ts';

const PROJECT_ROOT = resolve(import.meta.dirname, '../..');

/** The app's output: exit status, what it printed, and its templates. */
export interface Synthesis {
  readonly ok: boolean;
  readonly output: string;
  readonly outdir: string;
  readonly templates: readonly string[];
}

const CdkJson = z.object({ app: z.string(), context: z.record(z.string(), z.unknown()) });

/** Runs `npx tsx infra/app.ts` as the CDK CLI would, with extra context (e.g. envName, destroyData). */
export async function synthesizeApp(context: Record<string, unknown> = {}): Promise<Synthesis> {
  const cdkJson = CdkJson.parse(JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')));
  const outdir = await tempDir('datastroom-synth-', 'file');
  const env = {
    ...process.env,
    CDK_OUTDIR: outdir,
    CDK_CONTEXT_JSON: JSON.stringify({ ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...context }),
  };
  const [command, ...args] = cdkJson.app.split(' ');
  try {
    const { stdout, stderr } = await promisify(execFile)(command ?? 'npx', args, { cwd: PROJECT_ROOT, env, maxBuffer: 64 * 1024 * 1024 });
    return { ok: true, output: stdout + stderr, outdir, templates: templatesIn(outdir) };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}`, outdir, templates: templatesIn(outdir) };
  }
}

function templatesIn(outdir: string): string[] {
  try {
    return readdirSync(outdir).filter((f) => f.endsWith('.template.json')).map((f) => join(outdir, f));
  } catch {
    return [];
  }
}
