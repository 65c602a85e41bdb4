import { beforeAll, describe, expect, it } from 'vitest';
import { Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { registry } from '../../datasets/index.ts';
import { KEY_POLICY_PLUGIN, KEY_POLICY_RULES, keyPolicyFindings, KeyPolicyValidator } from '../../infra/governance/key-policy.ts';
import { tagComponent } from '../../infra/governance/tags.ts';
import type { Template } from '../../infra/governance/template.ts';
import { DatastroomStack } from '../../infra/stacks/datastroom-stack.ts';
import { platform, testApp } from '../helpers/stack.ts';

type Statement = { Sid?: string; Effect: string; Principal?: unknown; Action: unknown; Condition?: Record<string, unknown> };

let synthesized: Template;
beforeAll(() => {
  synthesized = platform().template.toJSON() as Template;
});

/** A copy of the synthesized template with the key policy's statements changed. */
function withStatements(change: (statements: Statement[]) => Statement[]): Template {
  const copy = structuredClone(synthesized) as { Resources: Record<string, { Type: string; Properties: { KeyPolicy?: { Statement: Statement[] } } }> };
  const key = Object.values(copy.Resources).find((r) => r.Type === 'AWS::KMS::Key')!;
  key.Properties.KeyPolicy!.Statement = change(key.Properties.KeyPolicy!.Statement);
  return copy as Template;
}
const bySid = (sid: string) => (statements: Statement[]) => statements.filter((s) => s.Sid !== sid);
const resourcesOf = (type: string) => Object.entries(synthesized.Resources).filter(([, r]) => r.Type === type).map(([id]) => id);

describe('the key-policy check', () => {
  it('finds nothing in the platform’s template', () => {
    expect(keyPolicyFindings(synthesized)).toEqual([]);
  });

  it('names every log group once the statement for CloudWatch Logs is removed', () => {
    const findings = keyPolicyFindings(withStatements(bySid('CloudWatchLogsEncryptPlatformLogGroups')));
    expect(findings.map((f) => f.rule)).toEqual(Array(resourcesOf('AWS::Logs::LogGroup').length).fill(KEY_POLICY_RULES.logs));
    expect(findings.map((f) => f.logicalId).sort()).toEqual(resourcesOf('AWS::Logs::LogGroup').sort());
    expect(findings[0]!.message).toMatch(/^log group \S+ is encrypted with StorageKey\w+, whose policy does not let CloudWatch Logs use it: the log group cannot be created$/);
    expect(findings[0]!.fix).toContain('ArnLike kms:EncryptionContext:aws:logs:arn covering arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/datastroom/dev/');
  });

  it('refuses a statement for CloudWatch Logs whose condition covers other log groups than these', () => {
    const elsewhere = withStatements((statements) =>
      statements.map((s) =>
        s.Sid === 'CloudWatchLogsEncryptPlatformLogGroups'
          ? { ...s, Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': 'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/other/*' } } }
          : s,
      ),
    );
    expect(keyPolicyFindings(elsewhere)).toHaveLength(resourcesOf('AWS::Logs::LogGroup').length);
  });

  it('names the alarm topic once the statement for CloudWatch alarms is removed, or loses its documented conditions', () => {
    for (const template of [
      withStatements(bySid('CloudWatchAlarmsPublishToEncryptedTopic')),
      withStatements((statements) => statements.map((s) => (s.Sid === 'CloudWatchAlarmsPublishToEncryptedTopic' ? { ...s, Condition: undefined } : s))),
    ]) {
      const findings = keyPolicyFindings(template);
      expect(findings).toHaveLength(1);
      expect(findings[0]).toMatchObject({ rule: KEY_POLICY_RULES.publisher, logicalId: resourcesOf('AWS::SNS::Topic')[0] });
      expect(findings[0]!.message).toMatch(new RegExp(`does not let cloudwatch\\.amazonaws\\.com publish to it for ${4 + 2 * registry.length} resources`));
    }
  });

  it('names every resource its callers encrypt once the key no longer lets IAM policies grant it', () => {
    const withoutRoot = withStatements((statements) => statements.filter((s) => !(s.Action === 'kms:*')));
    const findings = keyPolicyFindings(withoutRoot).filter((f) => f.rule === KEY_POLICY_RULES.iam);
    const expected = [
      // The access-log bucket and the open-data portal's are encrypted with S3-managed keys.
      ...resourcesOf('AWS::S3::Bucket').filter((id) => !id.startsWith('StorageAccessLogs') && !id.startsWith('PublishingPortal')),
      ...resourcesOf('AWS::SecretsManager::Secret'),
      ...resourcesOf('AWS::Athena::WorkGroup'),
      ...resourcesOf('AWS::KinesisFirehose::DeliveryStream'),
    ];
    expect(findings.map((f) => f.logicalId).sort()).toEqual(expected.sort());
  });

  it('names a resource of a type it has no rule for that refers to the key, however it refers to it', () => {
    const copy = structuredClone(synthesized) as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
    const [keyId] = Object.entries(copy.Resources).find(([, r]) => r.Type === 'AWS::KMS::Key')!;
    copy.Resources.StrayFunction = { Type: 'AWS::Lambda::Function', Properties: { KmsKeyArn: { 'Fn::GetAtt': [keyId, 'Arn'] } } };
    copy.Resources.StrayCatalogEncryption = {
      Type: 'AWS::Glue::DataCatalogEncryptionSettings',
      Properties: { DataCatalogEncryptionSettings: { EncryptionAtRest: { CatalogEncryptionMode: 'SSE-KMS', SseAwsKmsKeyId: { Ref: keyId } } } },
    };
    // Refers to the key as text only, through an environment variable: still a use to look at.
    copy.Resources.StrayEnvironment = { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: { KEY: { 'Fn::GetAtt': [keyId, 'Arn'] } } } } };
    // A type the check knows, with the key in a property it has no rule for: the stream's own server-side encryption.
    const [streamId, stream] = Object.entries(copy.Resources).find(([, r]) => r.Type === 'AWS::KinesisFirehose::DeliveryStream')!;
    stream.Properties!.DeliveryStreamEncryptionConfigurationInput = { KeyType: 'CUSTOMER_MANAGED_CMK', KeyARN: { 'Fn::GetAtt': [keyId, 'Arn'] } };
    const findings = keyPolicyFindings(copy as Template);
    expect(findings.map((f) => [f.rule, f.logicalId])).toEqual([
      [KEY_POLICY_RULES.unknownUse, streamId],
      [KEY_POLICY_RULES.unknownUse, 'StrayFunction'],
      [KEY_POLICY_RULES.unknownUse, 'StrayCatalogEncryption'],
      [KEY_POLICY_RULES.unknownUse, 'StrayEnvironment'],
    ]);
    expect(findings[0]!.message).toMatch(/refers to StorageKey\w+ through a property other than ExtendedS3DestinationConfiguration\.EncryptionConfiguration: whether its service can use the key is unchecked$/);
    expect(findings[2]!.message).toMatch(/^StrayCatalogEncryption \(AWS::Glue::DataCatalogEncryptionSettings\) refers to StorageKey\w+, and the key-policy check knows no rule for AWS::Glue::DataCatalogEncryptionSettings/);
  });

  it('refuses a KMS-encrypted bucket as the target of server access logs', () => {
    const copy = structuredClone(synthesized) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const [logsId, logBucket] = Object.entries(copy.Resources).find(([id]) => id.startsWith('StorageAccessLogs') && !id.includes('Policy'))!;
    const [, raw] = Object.entries(copy.Resources).find(([id, r]) => id.startsWith('StorageRaw') && r.Type === 'AWS::S3::Bucket')!;
    logBucket.Properties.BucketEncryption = raw.Properties.BucketEncryption;
    expect(keyPolicyFindings(copy as Template)).toEqual([expect.objectContaining({ rule: KEY_POLICY_RULES.accessLogTarget, logicalId: logsId })]);
  });
});

describe('the key-policy check at synth', () => {
  it('fails synth naming a log group the key does not serve', () => {
    const app = testApp();
    const stack = new DatastroomStack(app, 'Test');
    const stray = new logs.LogGroup(stack, 'StrayLogs', { logGroupName: '/elsewhere/logs', encryptionKey: stack.storage.key });
    tagComponent(stray, 'test');
    Validations.of(app).addPlugins(new KeyPolicyValidator());
    expect(() => app.synth()).toThrow(
      /log group Test\/StrayLogs\/Resource \(StrayLogs\w+\) is encrypted with Test\/Storage\/Key\/Resource \(StorageKey\w+\), whose policy does not let CloudWatch Logs use it/,
    );
  });

  it('fails synth naming a function whose environment the key encrypts, until that use is acknowledged with a reason', () => {
    const build = (acknowledged: boolean) => {
      const app = testApp();
      const stack = new DatastroomStack(app, 'Test');
      const fn = new lambda.Function(stack, 'StrayFunction', {
        runtime: lambda.Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async () => {};'),
        environmentEncryption: stack.storage.key,
      });
      tagComponent(fn, 'test');
      if (acknowledged) {
        Validations.of(fn).acknowledge({ id: `${KEY_POLICY_PLUGIN}::${KEY_POLICY_RULES.unknownUse}`, reason: 'A test function whose role decrypts its own environment.' });
      }
      Validations.of(app).addPlugins(new KeyPolicyValidator());
      return () => app.synth();
    };
    expect(build(false)).toThrow(/Test\/StrayFunction\/Resource \(StrayFunction\w+\) \(AWS::Lambda::Function\) refers to Test\/Storage\/Key\/Resource \(StorageKey\w+\), and the key-policy check knows no rule for AWS::Lambda::Function/);
    expect(build(true)).not.toThrow();
  });
});
