import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { CONTROL_TOWER } from '../../infra/governance/nag.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { platform } from '../helpers/stack.ts';

/** A small app with one queue that has no dead-letter queue (Control Tower's CT.SQS.PR.1), checked by the plugin only. */
async function queueApp(acknowledged: boolean) {
  const outdir = await tempDir('datastroom-ct-');
  const scoped = new App({ outdir });
  const stack = new Stack(scoped, 'Queues');
  const queue = new sqs.Queue(stack, 'Orphan', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
  if (acknowledged) {
    Validations.of(queue).acknowledge({ id: `${CONTROL_TOWER}::sqs_dlq_check`, reason: 'A queue in a test whose messages are never retried.' });
  }
  Validations.of(scoped).addPlugins(new CfnGuardValidator());
  return { app: scoped, outdir };
}

const ReportViolation = (report: unknown) =>
  (report as { pluginReports: { pluginName: string; violations: { ruleName: string; violatingConstructs: { constructPath?: string }[] }[] }[] }).pluginReports.flatMap(
    (p) => p.violations.map((v) => ({ plugin: p.pluginName, rule: v.ruleName, paths: v.violatingConstructs.map((c) => c.constructPath) })),
  );

describe('the AWS Control Tower proactive controls at synth', () => {
  it('ship the cfn-guard binary with the plugin: no download, so synth works offline', () => {
    const plugin = new CfnGuardValidator();
    expect(plugin.ruleIds?.length).toBeGreaterThan(100);
    expect(plugin.ruleIds).toContain('sqspr1');
  });

  it('fail synth on a finding, naming the control and the construct', async () => {
    const { app, outdir } = await queueApp(false);
    expect(() => app.synth()).toThrow(/CT\.SQS\.PR\.1.*\n\s*Queues\/Orphan\/Resource[\s\S]*Acknowledge with 'cdk-validator-cfnguard::sqs_dlq_check'/);
    const violations = ReportViolation(JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')));
    expect(violations).toContainEqual({ plugin: CONTROL_TOWER, rule: 'sqs_dlq_check', paths: ['Queues/Orphan/Resource'] });
  });

  it('pass once the finding is acknowledged with a written reason', async () => {
    const { app } = await queueApp(true);
    expect(() => app.synth()).not.toThrow();
  });

  it('are acknowledged on the platform only with written reasons, each on the construct it is about', () => {
    const { stack } = platform();
    const acknowledged = stack.node
      .findAll()
      .flatMap((c) =>
        c.node.metadata
          .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ path: c.node.path, id, reason }))),
      )
      .filter((a) => a.id.startsWith(`${CONTROL_TOWER}::`));
    const expected = [
      ...['s3_bucket_logging_enabled_check', 's3_bucket_default_encryption_kms_check', 's3_bucket_versioning_enabled_check', 's3_event_notifications_enabled_check', 's3_bucket_object_lock_enabled_check'].map(
        (rule) => `${rule} Test/Storage/AccessLogs`,
      ),
      's3_bucket_object_lock_enabled_check Test/Storage/Raw',
      ...['Curated', 'QueryResults'].flatMap((bucket) =>
        ['s3_bucket_object_lock_enabled_check', 's3_bucket_versioning_enabled_check', 's3_event_notifications_enabled_check'].map((rule) => `${rule} Test/Storage/${bucket}`),
      ),
      'sqs_dlq_check Test/Transform/DeadLetters',
      'lambda_inside_vpc_check Test/Transform/Function',
      'lambda_inside_vpc_check Test/Ingestion/DeviceCleanup/Function',
      'lambda_inside_vpc_check Test/Compaction/Function',
      ...['s3_bucket_default_encryption_kms_check', 's3_bucket_versioning_enabled_check', 's3_event_notifications_enabled_check', 's3_bucket_object_lock_enabled_check'].map(
        (rule) => `${rule} Test/Publishing/Portal`,
      ),
      ...['cloudfront_access_logs_enabled_check', 'cloudfront_origin_failover_enabled_check', 'cloudfront_custom_ssl_certificate_check', 'cloudfront_sni_enabled_check', 'cloudfront_security_policy_check'].map(
        (rule) => `${rule} Test/Publishing/Distribution`,
      ),
      'lambda_inside_vpc_check Test/Publishing/Function',
      'lambda_inside_vpc_check Test/Integrations/PushFunction',
      ...['POST--ingest--{dataset}', 'POST--ingest--{dataset}--{format}'].map((route) => `api_gw_v2_authorization_type_configured_check Test/Integrations/Api/${route}`),
    ];
    expect(acknowledged.map((a) => `${a.id.slice(CONTROL_TOWER.length + 2)} ${a.path}`).sort()).toEqual(expected.sort());
    for (const a of acknowledged) expect(a.reason.length, `${a.id} on ${a.path}`).toBeGreaterThan(40);
  });
});
