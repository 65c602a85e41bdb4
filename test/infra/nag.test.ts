import { describe, expect, it } from 'vitest';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { DatastroomStack } from '../../infra/stacks/datastroom-stack.ts';
import { platform, testApp } from '../helpers/stack.ts';
import { tagComponent } from '../../infra/governance/tags.ts';

describe('cdk-nag (AWS Solutions and Serverless packs)', () => {
  it('finds nothing unacknowledged in the platform stack', () => {
    const { stack } = platform();
    for (const pack of [new AwsSolutionsChecks(stack), new ServerlessChecks(stack)]) {
      const report = pack.validateScope(stack);
      expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`)).toEqual([]);
      expect(report.success).toBe(true);
    }
  });

  it('gives every acknowledgement a written reason', () => {
    const { stack } = platform();
    const rules = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(rules.length).toBeGreaterThan(20);
    for (const [id, reason] of rules) expect(reason.trim().length, id).toBeGreaterThan(20);
  });

  it('acknowledges the functions’ findings with what AWS documents of them', () => {
    const { stack } = platform();
    /** The acknowledgements on one construct, by rule id (cdk-nag's as Annotation::<rule>). */
    const reasons = (path: string): Record<string, string> =>
      Object.assign(
        {},
        ...stack.node
          .findAll()
          .filter((c) => c.node.path === `Test/${path}`)
          .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((m) => m.data as Record<string, string>)),
      );
    const cleanup = reasons('Ingestion/DeviceCleanup/Function');
    // Lambda's guide: CloudFormation invokes a custom resource's function asynchronously.
    expect(cleanup['Annotation::Serverless-LambdaDLQ']).toMatch(/^CloudFormation invokes the function asynchronously/);
    // It runs on every request type, doing nothing but on the stack's deletion.
    expect(cleanup['cdk-validator-cfnguard::lambda_inside_vpc_check']).toMatch(/runs on each create, update and delete/);
    const transform = reasons('Transform/Function')['cdk-validator-cfnguard::lambda_inside_vpc_check'];
    // S3 has a gateway endpoint at no charge; the transform sends its metrics in its logs, not to the CloudWatch API.
    expect(transform).toMatch(/S3 would take a gateway endpoint \(no charge\)/);
    expect(transform).not.toMatch(/CloudWatch/);
  });

  it('fails synth when a finding is left unacknowledged', async () => {
    const app = testApp();
    const stack = new DatastroomStack(app, 'Test');
    const { Bucket } = await import('aws-cdk-lib/aws-s3');
    // Tagged, so the governance check passes and the finding is cdk-nag's alone.
    tagComponent(new Bucket(stack, 'CarelessBucket'), 'test');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S1|AwsSolutions-S10/);
  });
});
