/**
 * cfn-lint, AWS's CloudFormation linter with its resource schemas, run on
 * synthesized templates. Its exit status only says whether it found
 * something; its JSON report says what.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { z } from 'zod';

/** How to install the cfn-lint the rehearsal is written against; .ci/run says the same. */
export const CFN_LINT_INSTALL = 'pip install cfn-lint==1.51.0';

/** cfn-lint is missing or did not run. */
export class CfnLintUnavailable extends Error {
  constructor(detail: string) {
    super(`cfn-lint: ${detail}`);
    this.name = 'CfnLintUnavailable';
  }
}

const Match = z.object({
  Rule: z.object({ Id: z.string() }),
  Level: z.enum(['Error', 'Warning', 'Informational']),
  Message: z.string(),
  Filename: z.string(),
  Location: z.object({ Path: z.array(z.union([z.string(), z.number()])).nullable() }),
});
/** One thing cfn-lint found. */
export type LintMatch = z.infer<typeof Match>;

/** Runs cfn-lint on templates and returns what it found. */
export async function cfnLint(templates: readonly string[], options: { /** @default 'cfn-lint' */ command?: string } = {}): Promise<LintMatch[]> {
  const command = options.command ?? 'cfn-lint';
  const output = await promisify(execFile)(command, ['--format', 'json', '--', ...templates], { maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => r.stdout,
    (error: { stdout?: string; code?: number | string }) => {
      if (error.code === 'ENOENT') throw new CfnLintUnavailable(`${command} is not on the PATH; install it with ${CFN_LINT_INSTALL}`);
      if (typeof error.stdout !== 'string' || error.stdout.trim() === '') throw new CfnLintUnavailable(`${command} did not run: ${String(error.code)}`);
      return error.stdout;
    },
  );
  return z.array(Match).parse(JSON.parse(output));
}
