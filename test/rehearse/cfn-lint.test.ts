import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ACCEPTED_WARNINGS } from './cfn-lint-accepted.ts';
import { synthesizeApp, type Synthesis } from './real-app.ts';

const Match = z.object({
  Rule: z.object({ Id: z.string() }),
  Level: z.enum(['Error', 'Warning', 'Informational']),
  Message: z.string(),
  Filename: z.string(),
  Location: z.object({ Path: z.array(z.union([z.string(), z.number()])).nullable() }),
});
type LintMatch = z.infer<typeof Match>;

/** cfn-lint (AWS's resource schemas and rules) on templates; its exit status only says whether it found something. */
async function cfnLint(templates: readonly string[]): Promise<LintMatch[]> {
  const run = promisify(execFile);
  const output = await run('cfn-lint', ['--format', 'json', '--', ...templates], { maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => r.stdout,
    (error: { stdout?: string; code?: number }) => {
      if (typeof error.stdout !== 'string' || error.stdout.trim() === '') throw new Error(`cfn-lint did not run: ${String(error.code)}`);
      return error.stdout;
    },
  );
  return z.array(Match).parse(JSON.parse(output));
}

const resourceOf = (m: LintMatch) => (m.Location.Path?.[0] === 'Resources' ? String(m.Location.Path[1]) : '');
const show = (m: LintMatch) => `${m.Rule.Id} ${resourceOf(m)}: ${m.Message}`;

let defaults: Synthesis;
let everyOption: Synthesis;
let matches: LintMatch[];
beforeAll(async () => {
  [defaults, everyOption] = await Promise.all([
    synthesizeApp(),
    synthesizeApp({ envName: 'prod', destroyData: true, lakeFormationTags: true }),
  ]);
  expect(defaults.ok, defaults.output.slice(-3000)).toBe(true);
  expect(everyOption.ok, everyOption.output.slice(-3000)).toBe(true);
  matches = await cfnLint([...defaults.templates, ...everyOption.templates]);
}, 240_000);

describe('the real app (infra/app.ts)', () => {
  it('synthesizes one template per configuration with every validation plugin passing', () => {
    expect(defaults.templates).toHaveLength(1);
    expect(everyOption.templates).toHaveLength(1);
  });
});

describe('cfn-lint on every synthesized template', () => {
  it('finds no error', () => {
    expect(matches.filter((m) => m.Level === 'Error').map(show)).toEqual([]);
  });

  it('keeps only the warnings listed, each with a reason', () => {
    const unlisted = matches.filter((m) => m.Level === 'Warning' && !ACCEPTED_WARNINGS.some((a) => a.rule === m.Rule.Id && a.resource.test(resourceOf(m))));
    expect(unlisted.map(show)).toEqual([]);
    for (const accepted of ACCEPTED_WARNINGS) expect(accepted.reason.length, accepted.rule).toBeGreaterThan(40);
  });

  it('has no stale entry in the list of accepted warnings', () => {
    for (const accepted of ACCEPTED_WARNINGS) {
      const found = matches.filter((m) => m.Rule.Id === accepted.rule && accepted.resource.test(resourceOf(m)));
      expect(found.length, `${accepted.rule} ${accepted.resource}`).toBeGreaterThan(0);
    }
  });
});
