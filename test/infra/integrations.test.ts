/**
 * Where payloads arrive on AWS besides devices: integrations' own topic
 * rules and policies, the HTTP push endpoint, and the pull sources'
 * schedules, as the synthesized template holds them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { registry } from '../../datasets/index.ts';
import { CONFIG_DEFAULTS, ConfigError, readConfig } from '../../infra/config.ts';
import { integrationIngestSql } from '../../infra/constructs/ingestion.ts';
import { DatastroomStack } from '../../infra/stacks/datastroom-stack.ts';
import { PUSH_ENDPOINT } from '../../infra/sizing.ts';
import { platform, testApp } from '../helpers/stack.ts';

type Properties = Record<string, unknown>;
let template: Template;
const resources = (t: Template, type: string) => Object.entries(t.findResources(type)) as [string, { Properties: Properties }][];

beforeAll(() => {
  template = platform({ config: { envName: 'test' } }).template;
});

describe('integrations publishing over MQTT', () => {
  it.each(registry.map((d) => d.id))('of %s have a rule of their own, stamping via and taking the sensor id from the payload', (id) => {
    template.hasResourceProperties('AWS::IoT::TopicRule', {
      RuleName: `datastroom_test_${id}_integrations`,
      TopicRulePayload: Match.objectLike({
        Sql: Match.stringLikeRegexp(`topic\\(4\\) AS sensorId,\\n.*\\n  concat\\('mqtt:', topic\\(4\\)\\) AS via,\\n.*\\nFROM 'datastroom/integrations/${id}/\\+'$`),
        ErrorAction: Match.objectLike({ S3: Match.anyValue() }),
      }),
    });
  });

  it('may publish only on their own integration topic of their dataset, through the broker or by Basic Ingest', () => {
    const [, policy] = resources(template, 'AWS::IoT::Policy').find(([, p]) => p.Properties.PolicyName === 'datastroom-test-air_quality-integration')!;
    const statements = (policy.Properties.PolicyDocument as { Statement: { Action: string[]; Resource: unknown[]; Condition?: unknown }[] }).Statement;
    expect(statements.map((s) => s.Action)).toEqual([['iot:Connect'], ['iot:Publish']]);
    expect(statements[0]?.Condition).toEqual({
      Bool: { 'iot:Connection.Thing.IsAttached': 'true' },
      StringEquals: { 'iot:Connection.Thing.ThingTypeName': 'datastroom-test-air_quality-integrations' },
    });
    const topics = JSON.stringify(statements[1]?.Resource);
    expect(topics).toContain(':topic/datastroom/integrations/air_quality/${iot:Connection.Thing.ThingName}');
    expect(topics).toContain(':topic/$aws/rules/datastroom_test_air_quality_integrations/datastroom/integrations/air_quality/${iot:Connection.Thing.ThingName}');
    expect(topics).not.toContain(':topic/datastroom/air_quality/');
  });

  it('write the envelope the local broker writes for a gateway', () => {
    expect(integrationIngestSql(registry[0]!)).toBe(
      [
        'SELECT',
        "  substring(sha256(concat(topic(), encode(*, 'base64'))), 0, 32) AS messageId,",
        '  topic(4) AS sensorId,',
        `  parse_time("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", timestamp(), "UTC") AS receivedAt,`,
        "  concat('mqtt:', topic(4)) AS via,",
        "  encode(*, 'base64') AS payloadBase64",
        `FROM 'datastroom/integrations/${registry[0]!.id}/+'`,
      ].join('\n'),
    );
  });
});

describe('the HTTP push endpoint', () => {
  it('is an HTTP API with POST routes to the push function, throttled, with JSON access logs', () => {
    const routes = resources(template, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey);
    expect(routes.sort()).toEqual(['POST /ingest/{dataset}', 'POST /ingest/{dataset}/{format}']);
    const [[, stage]] = resources(template, 'AWS::ApiGatewayV2::Stage') as [[string, { Properties: Properties }]];
    expect(stage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: PUSH_ENDPOINT.rateLimit, ThrottlingBurstLimit: PUSH_ENDPOINT.burstLimit },
    });
    const format = JSON.parse(String((stage.Properties.AccessLogSettings as { Format: string }).Format));
    expect(Object.keys(format)).toEqual(['requestId', 'ip', 'requestTime', 'method', 'path', 'status', 'responseLength', 'integrationError']);
  });

  it('runs a function that reads the integrations\' secrets and puts on every delivery stream, nothing else', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Datastroom HTTP push: authenticated payloads of integrations into the raw zone',
      MemorySize: PUSH_ENDPOINT.memoryMb,
      ReservedConcurrentExecutions: PUSH_ENDPOINT.concurrency,
      Environment: { Variables: { ENV_NAME: 'test' } },
    });
    const [, policy] = resources(template, 'AWS::IAM::Policy').find(([id]) => id.startsWith('IntegrationsPushRole'))!;
    const statements = (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement;
    const byAction = Object.fromEntries(statements.map((s) => [[s.Action].flat().join(','), s.Resource]));
    expect(Object.keys(byAction).sort()).toEqual(['firehose:PutRecord', 'logs:CreateLogStream,logs:PutLogEvents', 'secretsmanager:GetSecretValue', 'xray:PutTraceSegments,xray:PutTelemetryRecords']);
    expect(byAction['firehose:PutRecord']).toHaveLength(registry.length);
    expect(JSON.stringify(byAction['secretsmanager:GetSecretValue'])).toContain(':secret:datastroom/test/integrations/*');
  });

  it('is a stack output the CLI prints', () => {
    expect(Object.keys(template.findOutputs('PushEndpoint'))).toEqual(['PushEndpoint']);
  });
});

describe('pull sources on AWS', () => {
  it('are none by default: no pull function, no schedule', () => {
    expect(resources(template, 'AWS::Lambda::Function').filter(([, f]) => String(f.Properties.Description).startsWith('Datastroom pull'))).toEqual([]);
    expect(resources(template, 'AWS::Events::Rule').filter(([, r]) => String(r.Properties.Description).startsWith('Polls'))).toEqual([]);
  });

  it('poll each source named in context on its schedule, reading its secret and keeping its cursor under _state/pull/', () => {
    const { template: pulled } = platform({ config: { envName: 'test', pullSources: ['telraam', 'gent-parking'] } });
    const rules = resources(pulled, 'AWS::Events::Rule').filter(([, r]) => String(r.Properties.Description).startsWith('Polls'));
    expect(rules.map(([, r]) => [r.Properties.ScheduleExpression, JSON.parse(String((r.Properties.Targets as { Input: string }[])[0]?.Input))])).toEqual([
      ['rate(1 hour)', { source: 'telraam' }],
      ['rate(5 minutes)', { source: 'gent-parking' }],
    ]);
    const [, policy] = resources(pulled, 'AWS::IAM::Policy').find(([id]) => id.startsWith('IntegrationsPullRole'))!;
    const text = JSON.stringify(policy.Properties.PolicyDocument);
    expect(text).toContain(':secret:datastroom/test/pull/telraam*');
    expect(text).toContain('/_state/pull/*');
    const streams = (policy.Properties.PolicyDocument as { Statement: { Action: string; Resource: unknown[] }[] }).Statement.find((s) => s.Action === 'firehose:PutRecord');
    expect(streams?.Resource).toHaveLength(2);
    pulled.hasResourceProperties('AWS::Lambda::Function', { Description: 'Datastroom pull: polls the pull sources into the raw zone', Environment: { Variables: { ENV_NAME: 'test', STATE_BUCKET: Match.anyValue() } } });
  });

  it('leave no cdk-nag finding unacknowledged', () => {
    const { stack } = platform({ config: { pullSources: ['telraam', 'irceline', 'gent-parking'] } });
    for (const pack of [new AwsSolutionsChecks(stack), new ServerlessChecks(stack)]) {
      const report = pack.validateScope(stack);
      expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`)).toEqual([]);
    }
  });

  it('refuse an id the registry does not declare, naming those it does', () => {
    const app = testApp({ pullSources: 'telraam,nope' });
    expect(() => new DatastroomStack(app, 'Test', { config: readConfig(app.node) })).toThrow(new ConfigError('pullSources', 'no pull source "nope": declared are telraam, irceline, gent-parking'));
    expect(readConfig(testApp().node).pullSources).toEqual(CONFIG_DEFAULTS.pullSources);
  });
});
