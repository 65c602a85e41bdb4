/**
 * The rehearsal's checkers, cfn-lint and moto_server: when one is missing,
 * the rehearsal and .ci/run say how to install the version the rehearsal is
 * written against, the same install line in both.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFile, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CFN_LINT_INSTALL, cfnLint, CfnLintUnavailable } from './cfn-lint-run.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { MOTO_INSTALL, MotoUnavailable, startMoto } from '../helpers/moto.ts';

const CI_RUN = resolve(import.meta.dirname, '../../.ci/run');
const which = (command: string) => execFileSync('sh', ['-c', `command -v ${command}`]).toString().trim();

/** Runs .ci/run --check-tools with a PATH, and what it printed and returned. */
function checkTools(path: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(which('bash'), [CI_RUN, '--check-tools'], { env: { PATH: path, HOME: process.env.HOME ?? '/tmp' } }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('the rehearsal’s checkers', () => {
  it('are pinned to the versions the rehearsal is written against, and .ci/run pins the same', async () => {
    expect(CFN_LINT_INSTALL).toBe('pip install cfn-lint==1.51.0');
    expect(MOTO_INSTALL).toBe('pip install "moto[server]==5.2.1"');
    const script = await readFile(CI_RUN, 'utf8');
    expect(script).toContain(`CFN_LINT_INSTALL='${CFN_LINT_INSTALL}'`);
    expect(script).toContain(`MOTO_INSTALL='${MOTO_INSTALL}'`);
  });

  it('make cfn-lint say how to install it when it is not on the PATH', async () => {
    const run = cfnLint([], { command: 'cfn-lint-not-installed' });
    await expect(run).rejects.toThrow(CfnLintUnavailable);
    await expect(run).rejects.toThrow(`cfn-lint: cfn-lint-not-installed is not on the PATH; install it with ${CFN_LINT_INSTALL}`);
  });

  it('make moto say how to install it when it is not on the PATH', async () => {
    const start = startMoto({ command: 'moto_server_not_installed' });
    await expect(start).rejects.toThrow(MotoUnavailable);
    await expect(start).rejects.toThrow(`moto_server: moto_server_not_installed is not on the PATH; install it with ${MOTO_INSTALL}`);
  });

  it('make .ci/run stop before installing anything, naming each missing one with its install line', async () => {
    // A PATH with nothing on it but what the script needs before the check (dirname).
    const bare = await tempDir('datastroom-path-');
    await symlink(which('dirname'), join(bare, 'dirname'));
    const { code, stdout, stderr } = await checkTools(bare);
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(stderr).toBe(
      [
        'error: the deploy rehearsal (npm run rehearse, part of npm test) needs these on the PATH:',
        `  - cfn-lint (AWS CloudFormation Linter): ${CFN_LINT_INSTALL}`,
        `  - moto_server (the moto AWS emulator): ${MOTO_INSTALL}`,
        '',
      ].join('\n'),
    );
    expect(await checkTools(process.env.PATH ?? '')).toEqual({ code: 0, stdout: 'cfn-lint and moto_server are on the PATH\n', stderr: '' });
  });
});
