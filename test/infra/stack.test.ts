import { beforeAll, describe, expect, it } from 'vitest';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { CLASSIFICATIONS, registry } from '../../datasets/index.ts';
import { curatedColumns } from '../../functions/core/columns.ts';
import { datasetTopicFilter } from '../../functions/core/envelope.ts';
import { GLUE_TYPES } from '../../glue/columns.ts';
import { hourlyView } from '../../glue/views.ts';
import { viewsOf } from '../../glue/tables.ts';
import { DATASET_TAG_KEYS, PLATFORM_TAG_KEYS, TAG_KEYS } from '../../infra/governance/tags.ts';
import { WORKGROUP_ROLES, workgroupName } from '../../infra/names.ts';
import { TRANSFORM_DEFAULTS } from '../../functions/core/reading.ts';
import { platform } from '../helpers/stack.ts';

let template: Template;
beforeAll(() => {
  template = platform({ config: { envName: 'test', bytesScannedCutoffMb: 2048 } }).template;
});

type Resource = { Type: string; Properties?: Record<string, unknown> };
const resources = (type?: string): [string, Resource][] =>
  Object.entries(template.toJSON().Resources as Record<string, Resource>).filter(([, r]) => type === undefined || r.Type === type);

const bucketRules = (logicalIdPart: string) => {
  const [, bucket] = resources('AWS::S3::Bucket').find(([id]) => id.includes(logicalIdPart))!;
  return (bucket.Properties!.LifecycleConfiguration as { Rules: { Prefix?: string; ExpirationInDays?: number; Status: string }[] }).Rules;
};

describe.each(registry.map((d) => [d.id, d] as const))('dataset %s in the cloud', (_id, dataset) => {
  it('has a topic rule on its topic with an error action', () => {
    template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: Match.objectLike({
        Sql: Match.stringLikeRegexp(`FROM '${datasetTopicFilter(dataset.id).replace('+', '\\+')}'`),
        ErrorAction: Match.objectLike({ S3: Match.anyValue() }),
        Actions: [Match.objectLike({ Firehose: Match.objectLike({ Separator: '\n' }) })],
      }),
    });
  });

  it('has a curated Glue table with partition projection and the registry’s columns', () => {
    template.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Name: dataset.id,
        Parameters: Match.objectLike({ 'projection.enabled': 'true', 'projection.dt.type': 'date' }),
        PartitionKeys: [Match.objectLike({ Name: 'dt', Type: 'date' })],
        StorageDescriptor: Match.objectLike({
          Columns: curatedColumns(dataset).map((c) => ({ Name: c.name, Type: GLUE_TYPES[c.kind], Comment: c.comment })),
          SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        }),
      }),
    });
  });

  it('expires its objects per zone after the registry’s retention, every version of its raw messages included', () => {
    const raw = bucketRules('StorageRaw');
    const curated = bucketRules('StorageCurated');
    // The raw bucket is versioned: expiry leaves a noncurrent version, removed a day later. For personal data
    // expiry comes two days earlier still, as S3 rounds each of the two steps up to the next midnight UTC.
    const personal = dataset.governance.personalData.length > 0;
    for (const prefix of [`raw/${dataset.id}/`, `raw-errors/rules/${dataset.id}/`, `raw-errors/delivery/${dataset.id}/`]) {
      expect(raw).toContainEqual(
        expect.objectContaining({
          Prefix: prefix,
          ExpirationInDays: dataset.retention.rawDays - 1 - (personal ? 2 : 0),
          NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          Status: 'Enabled',
        }),
      );
    }
    expect(curated).toContainEqual(
      expect.objectContaining({ Prefix: `curated/${dataset.id}/`, ExpirationInDays: dataset.retention.curatedDays, Status: 'Enabled' }),
    );
    expect(curated).toContainEqual(
      expect.objectContaining({ Prefix: `quarantine/${dataset.id}/`, ExpirationInDays: dataset.retention.quarantineDays, Status: 'Enabled' }),
    );
  });

  it('has its hourly view in the catalog with the same SQL as locally', () => {
    const view = hourlyView(dataset)!;
    const [, table] = resources('AWS::Glue::Table').find(([, r]) => (r.Properties!.TableInput as { Name: string }).Name === view.name)!;
    const input = table.Properties!.TableInput as { TableType: string; ViewOriginalText: string };
    expect(input.TableType).toBe('VIRTUAL_VIEW');
    const encoded = /^\/\* Presto View: (.*) \*\/$/.exec(input.ViewOriginalText)![1]!;
    expect(JSON.parse(Buffer.from(encoded, 'base64').toString()).originalSql).toBe(view.sql);
  });

  it('has a device policy that binds a device to its own thing name and topic, by Basic Ingest or through the broker', () => {
    // The Basic Ingest topic names the dataset's rule as deployed.
    template.hasResourceProperties('AWS::IoT::TopicRule', { RuleName: `datastroom_test_${dataset.id}` });
    template.hasResourceProperties('AWS::IoT::Policy', {
      PolicyName: `datastroom-test-${dataset.id}-device`,
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          Match.objectLike({
            Action: ['iot:Connect'],
            Resource: [Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([':client/${iot:Connection.Thing.ThingName}'])] })],
            Condition: Match.objectLike({ Bool: { 'iot:Connection.Thing.IsAttached': 'true' } }),
          }),
          Match.objectLike({
            Action: ['iot:Publish'],
            Resource: [
              Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([`:topic/datastroom/${dataset.id}/\${iot:Connection.Thing.ThingName}`])] }),
              Match.objectLike({
                'Fn::Join': ['', Match.arrayWith([`:topic/$aws/rules/datastroom_test_${dataset.id}/datastroom/${dataset.id}/\${iot:Connection.Thing.ThingName}`])],
              }),
            ],
          }),
        ],
      },
    });
  });
});

describe('the lake buckets', () => {
  it('are all encrypted, block public access and deny requests without TLS', () => {
    const buckets = resources('AWS::S3::Bucket');
    // The lake's four and the open-data portal's.
    expect(buckets).toHaveLength(5);
    for (const [id, bucket] of buckets) {
      expect(bucket.Properties!.BucketEncryption, id).toBeDefined();
      expect(bucket.Properties!.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: Match.objectLike({
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
        }),
      });
    }
  });

  it('use the platform key with bucket keys, except the access-log bucket', () => {
    const kms = resources('AWS::S3::Bucket').filter(([, b]) => JSON.stringify(b.Properties!.BucketEncryption).includes('aws:kms'));
    expect(kms.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(['StorageCurated', 'StorageQueryResults', 'StorageRaw']);
    for (const [, b] of kms) expect(JSON.stringify(b.Properties!.BucketEncryption)).toContain('"BucketKeyEnabled":true');
  });

  it('version the raw zone, expire noncurrent versions and abort incomplete uploads', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
        ]),
      },
    });
  });

  it('have names CloudFormation generates, which the stack outputs give the CLI', () => {
    const buckets = resources('AWS::S3::Bucket');
    expect(buckets).toHaveLength(5);
    for (const [id, bucket] of buckets) expect(bucket.Properties!.BucketName, id).toBeUndefined();
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const bucketOf = (output: string) => buckets.find(([id]) => JSON.stringify(outputs[output]!.Value) === JSON.stringify({ Ref: id }))?.[0];
    expect(['RawBucket', 'CuratedBucket', 'QueryResultsBucket'].map(bucketOf).map((id) => id?.replace(/[0-9A-F]{8}$/, ''))).toEqual([
      'StorageRaw',
      'StorageCurated',
      'StorageQueryResults',
    ]);
  });

  it('are emptied of every version before CloudFormation deletes them with destroyData, and never otherwise', () => {
    expect(resources('Custom::S3AutoDeleteObjects')).toHaveLength(0);
    const destroyed = platform({ config: { destroyData: true } }).template;
    const buckets = Object.keys(destroyed.findResources('AWS::S3::Bucket'));
    const emptied = Object.values(destroyed.findResources('Custom::S3AutoDeleteObjects')).map((r) => (r.Properties as { BucketName: unknown }).BucketName);
    expect(emptied.map((b) => JSON.stringify(b)).sort()).toEqual(buckets.map((id) => JSON.stringify({ Ref: id })).sort());
  });

  it('are retained with the stack, removed when its first create rolls back, deleted with it if destroyData is set', () => {
    const kept = ['AWS::S3::Bucket', 'AWS::KMS::Key', 'AWS::SecretsManager::Secret', 'AWS::Glue::Database', 'AWS::Glue::Table'];
    const policies = (all: Record<string, { Type: string; DeletionPolicy?: string; UpdateReplacePolicy?: string }>) =>
      Object.entries(all).filter(([, r]) => kept.includes(r.Type));
    const retained = policies(template.toJSON().Resources);
    // Per dataset: the curated, raw and quarantine tables, and the views; the sensors table once.
    expect(retained).toHaveLength(5 + 1 + 1 + 1 + 1 + registry.reduce((n, d) => n + 3 + viewsOf(d).length, 0));
    for (const [id, r] of retained) expect([id, r.DeletionPolicy, r.UpdateReplacePolicy]).toEqual([id, 'RetainExceptOnCreate', 'Retain']);
    const destroyed = policies(platform({ config: { destroyData: true } }).template.toJSON().Resources);
    for (const [id, r] of destroyed) expect([id, r.DeletionPolicy]).toEqual([id, 'Delete']);
  });

  it('leave nothing behind when the first create rolls back: no resource is retained unconditionally', () => {
    const all = resources();
    expect(all.length).toBeGreaterThan(100);
    for (const [id, r] of all) expect([id, (r as { DeletionPolicy?: string }).DeletionPolicy]).not.toEqual([id, 'Retain']);
  });
});

describe('query access', () => {
  it.each([false, true])('has workgroups cdk destroy can delete after queries ran (destroyData %s): their query history goes with them', (destroyData) => {
    const workgroups = Object.values(platform({ config: { destroyData } }).template.findResources('AWS::Athena::WorkGroup'));
    // One per purpose and classification tier.
    expect(workgroups).toHaveLength(WORKGROUP_ROLES.length * CLASSIFICATIONS.length);
    // Athena's DeleteWorkGroup refuses a workgroup with query executions unless RecursiveDeleteOption is true.
    for (const wg of workgroups) expect([wg.DeletionPolicy ?? 'Delete', wg.Properties.RecursiveDeleteOption]).toEqual(['Delete', true]);
  });

  it('has workgroups that enforce their configuration, encrypt results and cut off large scans', () => {
    for (const [role, tier] of WORKGROUP_ROLES.flatMap((r) => CLASSIFICATIONS.map((t) => [r, t] as const))) {
      template.hasResourceProperties('AWS::Athena::WorkGroup', {
        Name: workgroupName('test', role, tier),
        WorkGroupConfiguration: Match.objectLike({
          EnforceWorkGroupConfiguration: true,
          PublishCloudWatchMetricsEnabled: true,
          BytesScannedCutoffPerQuery: 2048 * 1024 * 1024,
          ResultConfiguration: Match.objectLike({ EncryptionConfiguration: Match.objectLike({ EncryptionOption: 'SSE_KMS' }) }),
        }),
      });
    }
  });

  it('grants each classification tier the curated data of exactly its datasets', () => {
    const policies = resources('AWS::IAM::ManagedPolicy');
    for (const [tier, allowed] of [['open', ['open']], ['shared', ['open', 'shared']], ['closed', ['open', 'shared', 'closed']]] as const) {
      const [, policy] = policies.find(([, p]) => p.Properties!.ManagedPolicyName === `datastroom-test-read-${tier}`)!;
      const text = JSON.stringify(policy.Properties!.PolicyDocument);
      for (const d of registry) {
        expect(text.includes(`/curated/${d.id}/*`), `${tier} tier and ${d.id}`).toBe((allowed as readonly string[]).includes(d.governance.classification));
      }
      expect(text).not.toMatch(/_raw"/);
    }
  });
});

describe('policies', () => {
  it('grant no wildcard action, in IAM or IoT', () => {
    const statements: { Effect: string; Action: string | string[] }[] = [];
    for (const [, r] of resources()) {
      if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy' || r.Type === 'AWS::IoT::Policy') {
        statements.push(...((r.Properties!.PolicyDocument as { Statement: typeof statements }).Statement));
      }
    }
    expect(statements.length).toBeGreaterThan(20);
    for (const s of statements.filter((st) => st.Effect === 'Allow')) {
      for (const action of [s.Action].flat()) expect(action).not.toContain('*');
    }
  });
});

describe('the transform function', () => {
  it('runs on the newest Node.js runtime with explicit memory, timeout, tracing and log retention', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['x86_64'],
      MemorySize: 1024,
      Timeout: 300,
      TracingConfig: { Mode: 'Active' },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/datastroom/test/transform', RetentionInDays: 365, KmsKeyId: Match.anyValue() });
  });

  it('gets every setting its handler reads from the environment', async () => {
    const { readTransformConfig } = await import('../../functions/transform/config.ts');
    const [, fn] = resources('AWS::Lambda::Function').find(([id]) => id.startsWith('TransformFunction'))!;
    const variables = (fn.Properties!.Environment as { Variables: Record<string, unknown> }).Variables;
    const env = Object.fromEntries(Object.keys(variables).map((k) => [k, typeof variables[k] === 'string' ? (variables[k] as string) : 'resolved-at-deploy']));
    expect(() => readTransformConfig(env)).not.toThrow();
    expect(readTransformConfig(env).duckdbMemoryMb).toBe(614);
  });

  it('is fed by a queue with partial batch failures and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionResponseTypes: ['ReportBatchItemFailures'], BatchSize: 1 });
    template.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.objectLike({ maxReceiveCount: 5 }), VisibilityTimeout: 1800 });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['aws.s3'], 'detail-type': ['Object Created'] }),
    });
  });
});

describe('governance tags', () => {
  it('are on every taggable resource, with the dataset’s record on dataset resources', () => {
    let tagged = 0;
    const datasetIds = new Set<string>();
    for (const [id, r] of resources()) {
      const tags = r.Properties?.Tags;
      if (tags === undefined) continue;
      const map: Record<string, string> = Array.isArray(tags)
        ? Object.fromEntries((tags as { Key: string; Value: string }[]).map((t) => [t.Key, t.Value]))
        : (tags as Record<string, string>);
      tagged += 1;
      for (const key of PLATFORM_TAG_KEYS) expect(map, `${id} ${key}`).toHaveProperty([key]);
      const dataset = map[TAG_KEYS.dataset];
      if (dataset) {
        datasetIds.add(dataset);
        for (const key of DATASET_TAG_KEYS) expect(map, `${id} ${key}`).toHaveProperty([key]);
      }
    }
    expect(tagged).toBeGreaterThan(40);
    expect([...datasetIds].sort()).toEqual(registry.map((d) => d.id).sort());
  });

  it('mark the ANPR resources closed and personal', () => {
    template.hasResourceProperties('AWS::IoT::ThingType', {
      ThingTypeName: 'datastroom-test-anpr_passage',
      Tags: Match.arrayWith([
        { Key: TAG_KEYS.classification, Value: 'closed' },
        { Key: TAG_KEYS.personalData, Value: 'plate' },
      ]),
    });
  });
});

describe('observability', () => {
  type Alarm = {
    AlarmName: string;
    AlarmActions?: unknown[];
    InsufficientDataActions?: unknown[];
    TreatMissingData?: string;
    MetricName?: string;
    EvaluationPeriods?: number;
  };
  const alarms = () => resources('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties as Alarm);

  it('alarms on dead letters, transform errors, compaction errors, publishing errors, and per dataset on quarantine rate and freshness', () => {
    expect(alarms()).toHaveLength(4 + 2 * registry.length);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'datastroom-test-publishing-errors', MetricName: 'Errors', Namespace: 'AWS/Lambda', AlarmActions: [Match.anyValue()] });
    expect(resources('AWS::CloudWatch::CompositeAlarm')).toHaveLength(0);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'datastroom-test-compaction-errors', MetricName: 'Errors', Namespace: 'AWS/Lambda', AlarmActions: [Match.anyValue()] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'datastroom-test-dead-letters', MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'datastroom-test-transform-errors', MetricName: 'Errors', Namespace: 'AWS/Lambda' });
    for (const d of registry) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: `datastroom-test-${d.id}-quarantine-rate`, AlarmActions: [Match.anyValue()] });
    }
  });

  it('raise no freshness alarm before a dataset has readings, and one when they stop', () => {
    // No alarm may treat missing data as breaching: it would be in ALARM from the deploy on.
    expect(alarms().filter((a) => a.TreatMissingData === 'breaching')).toEqual([]);
    for (const d of registry) {
      const freshness = alarms().find((a) => a.AlarmName === `datastroom-test-${d.id}-freshness`)!;
      // A new alarm starts in INSUFFICIENT_DATA, which is no transition: quiet for a dataset without sensors.
      // Readings flowing make it OK; when they stop the stream reports nothing and it moves back to
      // INSUFFICIENT_DATA (or to ALARM on a reported zero): either transition notifies.
      expect(freshness).toMatchObject({ MetricName: 'IncomingRecords', TreatMissingData: 'missing', ComparisonOperator: 'LessThanThreshold', Threshold: 1 });
      expect(freshness.AlarmActions).toHaveLength(1);
      expect(freshness.InsufficientDataActions).toEqual(freshness.AlarmActions);
    }
  });
});

describe('Lake Formation tags', () => {
  it('are off by default, and when on tag every readable table with its classification', () => {
    expect(resources('AWS::LakeFormation::Tag')).toHaveLength(0);
    const lf = platform({ config: { lakeFormationTags: true } }).template;
    lf.hasResourceProperties('AWS::LakeFormation::Tag', { TagKey: 'datastroom_classification', TagValues: ['open', 'shared', 'closed'] });
    lf.hasResourceProperties('AWS::LakeFormation::TagAssociation', {
      Resource: { Table: Match.objectLike({ Name: 'anpr_passage' }) },
      LFTags: [Match.objectLike({ TagKey: 'datastroom_classification', TagValues: ['closed'] })],
    });
  });
});

describe('the platform key', () => {
  type Statement = { Sid?: string; Effect: string; Principal?: unknown; Action: string | string[]; Condition?: Record<string, Record<string, unknown>> };
  const statements = () => {
    const [, key] = resources('AWS::KMS::Key')[0]!;
    return (key.Properties!.KeyPolicy as { Statement: Statement[] }).Statement;
  };
  const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });

  it('lets CloudWatch Logs use it for the platform’s log groups only, which all live under that prefix', () => {
    const logs = statements().find((s) => JSON.stringify(s.Principal).includes('"logs."'))!;
    expect(logs.Principal).toEqual({ Service: join('logs.', { Ref: 'AWS::Region' }, '.amazonaws.com') });
    expect(logs.Action).toEqual(expect.arrayContaining(['kms:Encrypt*', 'kms:Decrypt*', 'kms:GenerateDataKey*']));
    expect(logs.Condition).toEqual({
      ArnLike: {
        'kms:EncryptionContext:aws:logs:arn': join(
          'arn:', { Ref: 'AWS::Partition' }, ':logs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':log-group:/datastroom/test/*',
        ),
      },
    });
    const groups = resources('AWS::Logs::LogGroup');
    // Per dataset its delivery stream's; the transform, compaction, publishing, device clean-up, HTTP push and its access logs.
    expect(groups).toHaveLength(registry.length + 6);
    for (const [id, g] of groups) {
      expect(g.Properties!.KmsKeyId, id).toBeDefined();
      expect(g.Properties!.LogGroupName, id).toMatch(/^\/datastroom\/test\//);
    }
  });

  it('lets CloudWatch publish to the encrypted topic only for this account’s platform alarms', () => {
    const cloudwatch = statements().find((s) => JSON.stringify(s.Principal) === '{"Service":"cloudwatch.amazonaws.com"}')!;
    expect(cloudwatch.Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
    expect(cloudwatch.Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      ArnLike: {
        'aws:SourceArn': join('arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:datastroom-test-*'),
      },
    });
    for (const [id, a] of [...resources('AWS::CloudWatch::Alarm'), ...resources('AWS::CloudWatch::CompositeAlarm')]) {
      expect(a.Properties!.AlarmName, id).toMatch(/^datastroom-test-/);
    }
  });

  it('refuses grants that are not for an AWS resource', () => {
    expect(statements()).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:CreateGrant',
        Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
      }),
    );
  });
});

describe('the views in the catalog', () => {
  it('have the storage descriptor Athena’s CREATE VIEW writes, SerdeInfo included', () => {
    const views = resources('AWS::Glue::Table').filter(([, r]) => (r.Properties!.TableInput as { TableType: string }).TableType === 'VIRTUAL_VIEW');
    // The hourly views, and a sensors view and a quarantine view per dataset.
    expect(views).toHaveLength(registry.filter((d) => hourlyView(d)).length + 2 * registry.length);
    for (const [id, view] of views) {
      const descriptor = (view.Properties!.TableInput as { StorageDescriptor: Record<string, unknown> }).StorageDescriptor;
      expect(descriptor, id).toEqual({
        Columns: expect.any(Array),
        Location: '',
        Compressed: false,
        NumberOfBuckets: 0,
        SerdeInfo: {},
        SortColumns: [],
        StoredAsSubDirectories: false,
      });
    }
  });
});

describe('partition projection', () => {
  const parameters = (name: string) => {
    const [, table] = resources('AWS::Glue::Table').find(([, r]) => (r.Properties!.TableInput as { Name: string }).Name === name)!;
    return (table.Properties!.TableInput as { Parameters: Record<string, string> }).Parameters;
  };

  it.each(registry.map((d) => [d.id, d] as const))('of %s covers what retention and the transform’s window can hold, tomorrow included', (_id, d) => {
    const back = d.retention.curatedDays + TRANSFORM_DEFAULTS.maxLatenessDays;
    expect(TRANSFORM_DEFAULTS.futureToleranceSeconds).toBe(86_400);
    expect(parameters(d.id)['projection.dt.range']).toBe(`NOW-${back}DAYS,NOW+1DAYS`);
    expect(parameters(`${d.id}_raw`)['projection.dt.range']).toBe(`NOW-${d.retention.rawDays}DAYS,NOW`);
    // Athena's documented relative form: NOW, optionally followed by a signed amount and a unit.
    for (const range of [parameters(d.id)['projection.dt.range']!, parameters(`${d.id}_raw`)['projection.dt.range']!]) {
      for (const end of range.split(',')) expect(end).toMatch(/^NOW([+-]\d+(YEARS?|MONTHS?|WEEKS?|DAYS?|HOURS?|MINUTES?|SECONDS?))?$/);
    }
  });

  it('follows the transform’s window, which the function gets from the same setting', () => {
    const [, fn] = resources('AWS::Lambda::Function').find(([id]) => id.startsWith('TransformFunction'))!;
    expect((fn.Properties!.Environment as { Variables: Record<string, string> }).Variables).toMatchObject({
      FUTURE_TOLERANCE_S: String(TRANSFORM_DEFAULTS.futureToleranceSeconds),
      MAX_LATENESS_DAYS: String(TRANSFORM_DEFAULTS.maxLatenessDays),
    });
  });
});

describe('the read policies', () => {
  type Statement = { Sid?: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
  const statementsOf = (tier: string) => {
    const [, policy] = resources('AWS::IAM::ManagedPolicy').find(([, p]) => p.Properties!.ManagedPolicyName === `datastroom-test-read-${tier}`)!;
    return (policy.Properties!.PolicyDocument as { Statement: Statement[] }).Statement;
  };

  it.each(['open', 'shared', 'closed'])('of the %s tier let BI drivers browse the catalog', (tier) => {
    const actions = statementsOf(tier).flatMap((s) => [s.Action].flat());
    for (const action of [
      'athena:ListDataCatalogs',
      'athena:GetDataCatalog',
      'athena:ListDatabases',
      'athena:GetDatabase',
      'athena:ListTableMetadata',
      'athena:GetTableMetadata',
      'athena:ListWorkGroups',
      'glue:GetDatabases',
    ]) {
      expect(actions, action).toContain(action);
    }
  });

  it.each(['open', 'shared', 'closed'])('of the %s tier grant s3:GetBucketLocation with no s3:prefix condition', (tier) => {
    const locating = statementsOf(tier).filter((s) => [s.Action].flat().includes('s3:GetBucketLocation'));
    expect(locating.length).toBeGreaterThan(0);
    for (const s of locating) expect(s.Condition).toBeUndefined();
  });
});

describe('deleting the stack', () => {
  it('first lets go of the devices registered since: a clean-up runs before the device policies and thing types are deleted', () => {
    const [, cleanup] = resources('Custom::DatastroomDeviceCleanup')[0]!;
    const refs = (type: string) => resources(type).map(([id]) => ({ Ref: id }));
    expect(cleanup.Properties).toMatchObject({ PolicyNames: refs('AWS::IoT::Policy'), ThingTypeNames: refs('AWS::IoT::ThingType') });
    // Per dataset a device policy and an integration policy.
    expect(refs('AWS::IoT::Policy')).toHaveLength(2 * registry.length);
    const [, role] = resources('AWS::IAM::Policy').find(([id]) => id.startsWith('IngestionDeviceCleanupRole'))!;
    const statements = (role.Properties!.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement;
    const actions = statements.flatMap((s) => [s.Action].flat());
    for (const action of ['iot:ListTargetsForPolicy', 'iot:DetachPolicy', 'iot:ListPolicyVersions', 'iot:DeletePolicyVersion', 'iot:DeletePolicy', 'iot:ListThings', 'iot:UpdateThing']) {
      expect(actions).toContain(action);
    }
    // It asks whether its own stack is being deleted, and may ask nothing of any other stack.
    expect(statements.filter((s) => [s.Action].flat().includes('cloudformation:DescribeStacks'))).toEqual([
      expect.objectContaining({ Action: 'cloudformation:DescribeStacks', Resource: { Ref: 'AWS::StackId' } }),
    ]);
  });
});
