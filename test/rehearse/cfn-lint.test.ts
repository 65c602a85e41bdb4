import { beforeAll, describe, expect, it } from 'vitest';
import { ACCEPTED_WARNINGS } from './cfn-lint-accepted.ts';
import { cfnLint, type LintMatch } from './cfn-lint-run.ts';
import { synthesizeApp, type Synthesis } from './real-app.ts';

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
