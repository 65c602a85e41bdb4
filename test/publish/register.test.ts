/**
 * The register of processing activities: docs/governance.md and .html are
 * what `datastroom governance` writes now (npm run docs refreshes them), and
 * what the register says of access and keys is what the synthesized stack
 * deploys.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../datasets/index.ts';
import { zonePrefix } from '../../functions/core/keys.ts';
import { keyAliasName } from '../../infra/names.ts';
import { readPoliciesOf, registerHtml, registerMarkdown } from '../../publish/register.ts';
import { cli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { platform } from '../helpers/stack.ts';

const DOCS = resolve(import.meta.dirname, '../../docs');
type Resource = { Type: string; Properties: Record<string, unknown> };
let template: Template;
let resources: Record<string, Resource>;

beforeAll(() => {
  template = platform({ config: { envName: 'test' } }).template;
  resources = template.toJSON().Resources as Record<string, Resource>;
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const strings = (value: unknown): string[] =>
  typeof value === 'string' ? [value] : Array.isArray(value) ? value.flatMap(strings) : value !== null && typeof value === 'object' ? Object.values(value).flatMap(strings) : [];

describe('the register of processing activities', () => {
  it('is in docs/ as datastroom governance writes it now (npm run docs refreshes it)', async () => {
    expect(await readFile(join(DOCS, 'governance.md'), 'utf8')).toBe(registerMarkdown());
    expect(await readFile(join(DOCS, 'governance.html'), 'utf8')).toBe(registerHtml());
  });

  it('names as a dataset’s readers exactly the managed policies that grant its curated data in the stack', () => {
    const managed = ofType('AWS::IAM::ManagedPolicy').map(([, p]) => ({ name: String(p.Properties.ManagedPolicyName), text: strings(p.Properties.PolicyDocument) }));
    expect(managed.length).toBeGreaterThan(0);
    for (const d of registry) {
      const granting = managed.filter((p) => p.text.some((s) => s.includes(`/${zonePrefix('curated', d.id)}*`))).map((p) => p.name);
      expect(granting.sort(), d.id).toEqual(readPoliciesOf(d, 'test').sort());
      expect(registerMarkdown({ envName: 'test' })).toContain(`holders of \`${readPoliciesOf(d, 'test')[0]}\``);
    }
    // "No read policy grants the raw zone."
    const rawBucket = ofType('AWS::S3::Bucket').find(([id]) => id.startsWith('StorageRaw'))![0];
    for (const p of ofType('AWS::IAM::ManagedPolicy')) expect(JSON.stringify(p[1].Properties.PolicyDocument)).not.toContain(rawBucket);
  });

  it('names the key the stack creates, rotated every year, and the lake buckets encrypted with it', () => {
    const [keyId, key] = ofType('AWS::KMS::Key')[0]!;
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(ofType('AWS::KMS::Alias').map(([, a]) => [a.Properties.AliasName, a.Properties.TargetKeyId])).toEqual([[keyAliasName('test'), { 'Fn::GetAtt': [keyId, 'Arn'] }]]);
    expect(registerMarkdown({ envName: 'test' })).toContain(`(\`${keyAliasName('test')}\`), rotated every year`);
    for (const [id, bucket] of ofType('AWS::S3::Bucket').filter(([id]) => /^Storage(Raw|Curated|QueryResults)/.test(id))) {
      expect(JSON.stringify(bucket.Properties.BucketEncryption), id).toContain(keyId);
    }
  });

  it('is written by datastroom governance as Markdown and HTML for an environment and region, and refuses a region that is none', async () => {
    const dir = await tempDir();
    const run = await cli(['governance', '--output', dir, '--env', 'prod', '--region', 'eu-west-1', '--controller', 'Stad Gent']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const options = { envName: 'prod', region: 'eu-west-1', controller: 'Stad Gent' };
    expect(await readFile(join(dir, 'governance.md'), 'utf8')).toBe(registerMarkdown(options));
    const page = await readFile(join(dir, 'governance.html'), 'utf8');
    expect(page).toBe(registerHtml(options));
    expect(page).toContain('<h3 id="anpr_passage">');
    expect(page).toContain('<code>datastroom-prod-read-closed</code>');
    expect(page).not.toContain('{env}');
    const wrong = await cli(['governance', '--output', dir, '--region', 'ireland']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--region must be an AWS region such as eu-west-1, got "ireland"/);
    const missing = await cli(['governance']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/governance needs --output DIR/);
  });
});
