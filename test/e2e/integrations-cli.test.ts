/**
 * The integrations and pull commands as a user runs them: the built
 * datastroom command, a data dir of their own.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pushAuthorization } from '../../functions/core/integrations.ts';
import { cli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';

describe('datastroom integrations --local', () => {
  it('registers an integration with its secret shown once and credentials readable by its owner only, lists it and revokes it', async () => {
    const dataDir = await tempDir();
    const registered = await cli(['integrations', 'register', '--local', 'air_quality', 'ttn-app1', '--format', 'ttn-v3', '--data-dir', dataDir]);
    expect(registered.code, registered.stderr).toBe(0);
    const secret = /secret \(shown once\): (\S+)/.exec(registered.stdout)?.[1] ?? '';
    expect(secret).not.toBe('');
    const file = join(dataDir, 'integrations', 'ttn-app1', 'credentials.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({
      username: 'ttn-app1',
      password: secret,
      topic: 'datastroom/integrations/air_quality/ttn-app1',
      format: 'ttn-v3',
      url: 'http://127.0.0.1:8088/ingest/air_quality/ttn-v3',
      authorization: pushAuthorization('ttn-app1', secret),
    });
    expect(registered.stdout).toContain(`curl -X POST http://127.0.0.1:8088/ingest/air_quality/ttn-v3 -H 'Content-Type: application/json' -H 'Authorization: ${pushAuthorization('ttn-app1', secret)}' --data @payload.json`);
    // A secret is stored hashed, never in clear; registering an integration leaves device authentication as it was.
    expect(await readFile(join(dataDir, 'state', 'devices.json'), 'utf8')).not.toContain(secret);
    expect(JSON.parse(await readFile(join(dataDir, 'state', 'authentication.json'), 'utf8'))).toEqual({ authentication: 'off' });

    const listed = await cli(['integrations', 'list', '--local', '--json', '--data-dir', dataDir]);
    expect(JSON.parse(listed.stdout)).toEqual([{ dataset: 'air_quality', integration: 'ttn-app1', format: 'ttn-v3' }]);
    const revoked = await cli(['integrations', 'revoke', '--local', 'air_quality', 'ttn-app1', '--data-dir', dataDir]);
    expect(revoked).toMatchObject({ code: 0, stdout: 'integration ttn-app1 revoked: its secret no longer works\n' });
    expect(JSON.parse((await cli(['integrations', 'list', '--local', '--json', '--data-dir', dataDir])).stdout)).toEqual([]);
  });

  it('refuses a format the dataset does not accept, and a name that is no thing name, before writing anything', async () => {
    const dataDir = await tempDir();
    const format = await cli(['integrations', 'register', '--local', 'air_quality', 'gw', '--format', 'ttn-v2', '--data-dir', dataDir]);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/--format: air_quality accepts no format "ttn-v2" \(did you mean ttn-v3\?\); it accepts datastroom, /);
    const name = await cli(['integrations', 'register', '--local', 'air_quality', 'my gateway', '--data-dir', dataDir]);
    expect(name.code).toBe(1);
    expect(name.stderr).toMatch(/is not a valid thing name/);
  });
});

describe('datastroom pull', () => {
  it('names the sources it knows, and asks for --once', async () => {
    const unknown = await cli(['pull', 'telram', '--once']);
    expect(unknown).toMatchObject({ code: 2, stderr: 'datastroom pull: no pull source "telram" (did you mean telraam?); known: telraam, irceline, gent-parking\n' });
    const scheduled = await cli(['pull', 'telraam']);
    expect(scheduled).toMatchObject({ code: 2, stderr: "datastroom pull: pull polls once (--once); to poll on the source's schedule run: datastroom dev --pull telraam\n" });
  });
});
