/**
 * The public open-data site in the synthesized template: the publishing
 * function's role names the curated prefixes of open datasets and of no
 * other, the portal bucket is reached by CloudFront alone, and the
 * distribution serves it over HTTPS only, on a schedule's output.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { registry } from '../../datasets/index.ts';
import { zonePrefix } from '../../functions/core/keys.ts';
import { placesPrefix } from '../../functions/core/places.ts';
import { PUBLISHING_ENV } from '../../functions/publish/config.ts';
import { Publishing } from '../../infra/constructs/publishing.ts';
import { STACK_OUTPUTS } from '../../infra/names.ts';
import { platform } from '../helpers/stack.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
let template: Template;
let resources: Record<string, Resource>;
const open = registry.filter((d) => d.governance.classification === 'open');
const notOpen = registry.filter((d) => d.governance.classification !== 'open');

beforeAll(() => {
  template = platform().template;
  resources = template.toJSON().Resources as Record<string, Resource>;
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalId = (prefix: string, type: string) => {
  const found = ofType(type).filter(([id]) => id.startsWith(prefix));
  expect(found.map(([id]) => id), prefix).toHaveLength(1);
  return found[0]![0];
};
/** Every string in a value, intrinsic functions' parts included. */
const strings = (value: unknown): string[] =>
  typeof value === 'string' ? [value] : Array.isArray(value) ? value.flatMap(strings) : value !== null && typeof value === 'object' ? Object.values(value).flatMap(strings) : [];

describe('the publishing function', () => {
  it('has a role that names the curated and places prefixes of every open dataset, and of no shared or closed one', () => {
    const role = logicalId('PublishingRole', 'AWS::IAM::Role');
    const policies = ofType('AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: role }]));
    expect(policies).toHaveLength(1);
    // Managed policies and inline policies of the role itself: there are none besides the one above.
    expect(resources[role]!.Properties.ManagedPolicyArns).toBeUndefined();
    expect(resources[role]!.Properties.Policies).toBeUndefined();
    const text = strings(policies[0]![1].Properties.PolicyDocument);
    for (const d of notOpen) {
      expect(text.filter((s) => s.includes(d.id)), d.id).toEqual([]);
    }
    const granted = text.filter((s) => s.startsWith('/curated/') || s.startsWith('curated/')).map((s) => s.replace(/^\//, ''));
    const expected = open.flatMap((d) => [`${zonePrefix('curated', d.id)}*`, `${placesPrefix(d.id)}*`]);
    // Each prefix twice: as the objects it may get and as the prefix it may list.
    expect([...new Set(granted)].sort()).toEqual(expected.sort());
    expect(granted).toHaveLength(2 * expected.length);
  });

  it('lists the curated bucket only under those prefixes, and may only decrypt with the lake’s key', () => {
    const role = logicalId('PublishingRole', 'AWS::IAM::Role');
    const policy = ofType('AWS::IAM::Policy').find(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: role }]))![1];
    const statements = (policy.Properties.PolicyDocument as { Statement: { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[] }).Statement;
    const bySid = (sid: string) => statements.find((s) => s.Sid === sid)!;
    expect(bySid('ListOpenData').Condition).toEqual({ StringLike: { 's3:prefix': open.flatMap((d) => [`${zonePrefix('curated', d.id)}*`, `${placesPrefix(d.id)}*`]) } });
    expect(bySid('DecryptOpenData').Action).toBe('kms:Decrypt');
    // It writes and removes in the portal bucket only.
    const writes = statements.filter((s) => [s.Action].flat().some((a) => /^s3:(Put|Delete)/.test(a)));
    expect(writes.map((s) => s.Resource)).toEqual([{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId('PublishingPortal', 'AWS::S3::Bucket'), 'Arn'] }, '/*']] }]);
  });

  it('runs every hour with the portal bucket, its https address and the curated bucket in its environment', () => {
    const fn = ofType('AWS::Lambda::Function').find(([, f]) => String(f.Properties.Description).startsWith('Datastroom publishing'))!;
    const variables = (fn[1].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(variables).sort()).toEqual(Object.values(PUBLISHING_ENV).sort());
    expect(variables[PUBLISHING_ENV.portalBucket]).toEqual({ Ref: logicalId('PublishingPortal', 'AWS::S3::Bucket') });
    expect(JSON.stringify(variables[PUBLISHING_ENV.baseUrl])).toContain(logicalId('PublishingDistribution', 'AWS::CloudFront::Distribution'));
    expect(fn[1].Properties.ReservedConcurrentExecutions).toBe(1);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fn[0], 'Arn'] } })],
    });
  });
});

describe('the open-data site', () => {
  it('keeps the portal bucket private: public access blocked, TLS only, readable by this distribution’s CloudFront alone', () => {
    const bucket = logicalId('PublishingPortal', 'AWS::S3::Bucket');
    const distribution = logicalId('PublishingDistribution', 'AWS::CloudFront::Distribution');
    expect(resources[bucket]!.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    const [, policy] = ofType('AWS::S3::BucketPolicy').find(([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucket }))!;
    const statements = (policy.Properties.PolicyDocument as { Statement: { Effect: string; Principal?: unknown; Action: unknown; Condition?: Record<string, Record<string, unknown>> }[] }).Statement;
    expect(statements.find((s) => s.Effect === 'Deny')?.Condition).toEqual({ Bool: { 'aws:SecureTransport': 'false' } });
    const allowed = statements.filter((s) => s.Effect === 'Allow');
    expect(allowed).toHaveLength(1);
    expect(allowed[0]!.Principal).toEqual({ Service: 'cloudfront.amazonaws.com' });
    expect(allowed[0]!.Action).toBe('s3:GetObject');
    expect(JSON.stringify(allowed[0]!.Condition?.StringEquals?.['AWS:SourceArn'])).toContain(distribution);
  });

  it('serves the portal over HTTPS only, through origin access control, with index.html at its root', () => {
    const distribution = resources[logicalId('PublishingDistribution', 'AWS::CloudFront::Distribution')]!;
    const config = distribution.Properties.DistributionConfig as {
      DefaultRootObject: string;
      DefaultCacheBehavior: { ViewerProtocolPolicy: string; AllowedMethods?: string[] };
      Origins: { OriginAccessControlId?: unknown; S3OriginConfig?: { OriginAccessIdentity: string } }[];
    };
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    expect(config.Origins).toHaveLength(1);
    expect(config.Origins[0]!.OriginAccessControlId).toEqual({ 'Fn::GetAtt': [logicalId('PublishingDistributionOrigin1S3OriginAccessControl', 'AWS::CloudFront::OriginAccessControl'), 'Id'] });
    expect(config.Origins[0]!.S3OriginConfig?.OriginAccessIdentity).toBe('');
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' }),
    });
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs[STACK_OUTPUTS.portalUrl]!.Value)).toContain('https://');
  });
});

describe('the open-data site on a domain of the city’s own', () => {
  it('serves it under that name with its certificate, by SNI, TLS 1.2 at least', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Domain');
    const certificate = acm.Certificate.fromCertificateArn(stack, 'Certificate', 'arn:aws:acm:us-east-1:111111111111:certificate/abc');
    new Publishing(stack, 'Publishing', {
      envName: 'test',
      datasets: registry,
      curatedBucket: new s3.Bucket(stack, 'Curated'),
      key: new kms.Key(stack, 'Key'),
      logBucket: new s3.Bucket(stack, 'Logs'),
      alarmTopic: new sns.Topic(stack, 'Alarms'),
      domain: { names: ['opendata.stad.example.be'], certificate },
    });
    const domain = Template.fromStack(stack);
    domain.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['opendata.stad.example.be'],
        ViewerCertificate: { AcmCertificateArn: 'arn:aws:acm:us-east-1:111111111111:certificate/abc', MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' },
      }),
    });
    const fn = Object.values(domain.findResources('AWS::Lambda::Function')).find((f) => String(f.Properties.Description).startsWith('Datastroom publishing'))!;
    expect(fn.Properties.Environment.Variables[PUBLISHING_ENV.baseUrl]).toBe('https://opendata.stad.example.be/');
  });
});
