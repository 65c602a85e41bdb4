/**
 * Query results and history per classification tier: evaluates each tier's
 * read policy, as IAM would, against the results and workgroups of every
 * tier, all derived from the classification list and the workgroup purposes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CLASSIFICATIONS, type Classification } from '../../datasets/index.ts';
import { lowerTiers } from '../../infra/constructs/query-access.ts';
import { readPolicyName, WORKGROUP_ROLES, workgroupName, workgroupResultsPrefix, type WorkgroupRole } from '../../infra/names.ts';
import { platform } from '../helpers/stack.ts';

type Statement = { Effect: 'Allow' | 'Deny'; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };
type Resource = { Type: string; Properties: Record<string, unknown> };

const PSEUDO: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': 'eu-west-1', 'AWS::AccountId': '111122223333', 'AWS::URLSuffix': 'amazonaws.com' };

/** A template value as a string: a bucket's name is its logical id, its ARN is built from it. */
function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, unknown>;
  if ('Fn::Join' in o) {
    const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(separator);
  }
  if ('Ref' in o) return PSEUDO[o.Ref as string] ?? (o.Ref as string);
  if ('Fn::GetAtt' in o) {
    const [id, attribute] = o['Fn::GetAtt'] as [string, string];
    if (attribute === 'Arn') return `arn:aws:s3:::${id}`;
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

/** IAM's wildcard match: * is any run of characters, ? any one. */
const matches = (pattern: string, value: string) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(value);

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

let statementsOf: (tier: Classification) => Statement[];
let workgroups: Resource[];
let resultsBucket: string;

beforeAll(() => {
  const template = platform({ config: { envName: 'test' } }).template.toJSON().Resources as Record<string, Resource>;
  const entries = Object.entries(template);
  resultsBucket = entries.find(([id, r]) => r.Type === 'AWS::S3::Bucket' && id.startsWith('StorageQueryResults'))![0];
  workgroups = entries.filter(([, r]) => r.Type === 'AWS::Athena::WorkGroup').map(([, r]) => r);
  statementsOf = (tier) => {
    const policy = entries.find(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy' && r.Properties.ManagedPolicyName === readPolicyName('test', tier));
    return (policy![1].Properties.PolicyDocument as { Statement: Statement[] }).Statement;
  };
});

/** Whether statements (one policy's, or several a principal holds) allow an action on a resource; s3:ListBucket with the prefix listed. */
function allowed(statements: readonly Statement[], action: string, resource: string, s3Prefix?: string): boolean {
  const applies = (s: Statement) => {
    if (!list(s.Action).some((a) => matches(a as string, action))) return false;
    if (!list(s.Resource).some((r) => matches(resolve(r), resource))) return false;
    const condition = s.Condition?.StringLike?.['s3:prefix'];
    return condition === undefined || (s3Prefix !== undefined && list(condition).some((p) => matches(resolve(p), s3Prefix)));
  };
  return statements.some((s) => s.Effect === 'Allow' && applies(s)) && !statements.some((s) => s.Effect === 'Deny' && applies(s));
}

const workgroupArn = (role: WorkgroupRole, tier: Classification) => `arn:aws:athena:eu-west-1:111122223333:workgroup/${workgroupName('test', role, tier)}`;
const resultObject = (role: WorkgroupRole, tier: Classification) => `arn:aws:s3:::${resultsBucket}/${workgroupResultsPrefix(role, tier)}0f1e2d3c.csv`;

const pairs = CLASSIFICATIONS.flatMap((reader) => CLASSIFICATIONS.map((owner) => [reader, owner] as const));
// Listed here, not taken from the construct: what a reader could use to see another tier's queries, whatever the construct grants.
const ATHENA_ACTIONS = [
  'athena:StartQueryExecution',
  'athena:StopQueryExecution',
  'athena:GetQueryExecution',
  'athena:GetQueryResults',
  'athena:GetQueryResultsStream',
  'athena:ListQueryExecutions',
  'athena:GetWorkGroup',
];

describe('query results and history per classification tier', () => {
  it('has a workgroup per purpose and tier writing, enforced, under its own prefix of the results bucket', () => {
    expect(workgroups).toHaveLength(WORKGROUP_ROLES.length * CLASSIFICATIONS.length);
    for (const role of WORKGROUP_ROLES) {
      for (const tier of CLASSIFICATIONS) {
        const wg = workgroups.find((w) => w.Properties.Name === workgroupName('test', role, tier));
        const configuration = wg?.Properties.WorkGroupConfiguration as { EnforceWorkGroupConfiguration: boolean; ResultConfiguration: { OutputLocation: unknown } };
        expect([role, tier, configuration.EnforceWorkGroupConfiguration]).toEqual([role, tier, true]);
        expect(resolve(configuration.ResultConfiguration.OutputLocation)).toBe(`s3://${resultsBucket}/${workgroupResultsPrefix(role, tier)}`);
      }
    }
  });

  it('gives every workgroup a prefix no other workgroup’s prefix starts with', () => {
    const prefixes = WORKGROUP_ROLES.flatMap((r) => CLASSIFICATIONS.map((t) => workgroupResultsPrefix(r, t)));
    for (const a of prefixes) expect(prefixes.filter((b) => b.startsWith(a))).toEqual([a]);
  });

  it.each(pairs)('lets readers of %s data read and write the results of %s workgroups only if it is their own tier', (reader, owner) => {
    for (const role of WORKGROUP_ROLES) {
      for (const action of ['s3:GetObject', 's3:PutObject']) {
        expect([role, action, allowed(statementsOf(reader), action, resultObject(role, owner))]).toEqual([role, action, reader === owner]);
      }
      const prefix = workgroupResultsPrefix(role, owner);
      expect([role, allowed(statementsOf(reader), 's3:ListBucket', `arn:aws:s3:::${resultsBucket}`, prefix)]).toEqual([role, reader === owner]);
    }
  });

  it.each(pairs)('lets readers of %s data run, see and fetch queries of %s workgroups only if it is their own tier', (reader, owner) => {
    for (const role of WORKGROUP_ROLES) {
      for (const action of ATHENA_ACTIONS) {
        expect([role, action, allowed(statementsOf(reader), action, workgroupArn(role, owner))]).toEqual([role, action, reader === owner]);
      }
    }
  });

  it('lets no reader list the whole results bucket', () => {
    for (const tier of CLASSIFICATIONS) expect([tier, allowed(statementsOf(tier), 's3:ListBucket', `arn:aws:s3:::${resultsBucket}`, '')]).toEqual([tier, false]);
  });

  it.each(CLASSIFICATIONS.filter((t) => lowerTiers(t).length > 0))(
    'stops a holder of the %s policy and a lower tier’s from running queries where the lower tier reads the results',
    (tier) => {
      for (const lower of lowerTiers(tier)) {
        const both = [...statementsOf(tier), ...statementsOf(lower)];
        for (const role of WORKGROUP_ROLES) {
          expect([lower, role, allowed(both, 'athena:StartQueryExecution', workgroupArn(role, lower))]).toEqual([lower, role, false]);
          expect([lower, role, allowed(both, 'athena:StartQueryExecution', workgroupArn(role, tier))]).toEqual([lower, role, true]);
        }
      }
    },
  );

  it('counts the lower tiers from the classification list: the most open has none, each next one all before it', () => {
    expect(CLASSIFICATIONS.map((t) => lowerTiers(t))).toEqual(CLASSIFICATIONS.map((_, i) => CLASSIFICATIONS.slice(0, i)));
  });
});
