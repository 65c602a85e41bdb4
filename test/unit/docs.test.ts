import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withRegisterTable } from '../../cli/commands/datasets.ts';
import { withCostSection } from '../../cli/commands/cost.ts';

describe('the README', () => {
  it('starts with the two commands a newcomer needs', async () => {
    const readme = await readFile(resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const firstBlock = readme.split('```')[1] ?? '';
    expect(firstBlock).toMatch(/npm ci && npm start/);
    expect(firstBlock).toMatch(/npm test/);
  });

  it('shows the register as the registry has it (npm run docs refreshes it)', async () => {
    const readme = await readFile(resolve(import.meta.dirname, '../../README.md'), 'utf8');
    expect(withRegisterTable(readme)).toBe(readme);
  });

  it('shows the cost of the default fleet as datastroom cost computes it now (npm run docs refreshes it)', async () => {
    const readme = await readFile(resolve(import.meta.dirname, '../../README.md'), 'utf8');
    expect(withCostSection(readme)).toBe(readme);
  });
});
