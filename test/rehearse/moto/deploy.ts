/**
 * A rehearsal deploy of the synthesized template into moto_server: moto's
 * CloudFormation creates what it supports, and API calls create the rest of
 * what the cloud data path and the CLI need (bucket policies, log streams,
 * the secret, delivery streams, Athena workgroups, and the bucket settings
 * moto's CloudFormation drops), every property read from the template. A
 * property the rehearsal does not know how to apply fails it, naming the
 * property, instead of being dropped. Not created: the Lambda function and
 * its event source mapping (the test invokes the bundle as they would), IoT
 * topic rules (moto runs no rule SQL), Glue, IAM policies, alarms and SNS.
 */
import { AthenaClient, CreateWorkGroupCommand, EncryptionOption } from '@aws-sdk/client-athena';
import { CloudFormationClient, CreateStackCommand, DescribeStackEventsCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, CreateLogStreamCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CompressionFormat, CreateDeliveryStreamCommand, DeliveryStreamType, FirehoseClient, KeyType, NoEncryptionConfig } from '@aws-sdk/client-firehose';
import { IoTClient } from '@aws-sdk/client-iot';
import {
  BucketVersioningStatus,
  ExpirationStatus,
  ObjectOwnership,
  DeleteBucketPolicyCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketLoggingCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  ServerSideEncryption,
  TransitionStorageClass,
  type LifecycleRule as ApiLifecycleRule,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, GetRandomPasswordCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import type { MotoServer } from '../../helpers/moto.ts';
import { referencedIds, resourcesOfType, Resolver, UnresolvedReference, type CfnResource, type CfnTemplate, type SynthesizedPlatform } from './template.ts';

/** SDK clients of every service the rehearsal talks to, pointed at moto. */
export interface RehearsalClients {
  readonly s3: S3Client;
  readonly cloudformation: CloudFormationClient;
  readonly firehose: FirehoseClient;
  readonly secrets: SecretsManagerClient;
  readonly logs: CloudWatchLogsClient;
  readonly athena: AthenaClient;
  readonly iot: IoTClient;
  readonly sqs: SQSClient;
}

/** Clients for a moto server; S3 by path, as moto serves every bucket on one host. */
export function rehearsalClients(moto: MotoServer): RehearsalClients {
  const config = moto.clientConfig;
  return {
    s3: new S3Client({ ...config, forcePathStyle: true }),
    // A request moto's CloudFormation fails is a moto error to see, not one to retry into "already exists".
    cloudformation: new CloudFormationClient({ ...config, maxAttempts: 1 }),
    firehose: new FirehoseClient(config),
    secrets: new SecretsManagerClient(config),
    logs: new CloudWatchLogsClient(config),
    athena: new AthenaClient(config),
    iot: new IoTClient(config),
    sqs: new SQSClient(config),
  };
}

/**
 * The resource types given to moto's CloudFormation: each is one whose moto
 * model declares its CloudFormation type, and the rehearsal reads or uses it.
 */
export const MOTO_CLOUDFORMATION_TYPES = [
  'AWS::KMS::Key',
  'AWS::KMS::Alias',
  'AWS::S3::Bucket',
  'AWS::SQS::Queue',
  'AWS::Events::Rule',
  'AWS::IoT::ThingType',
  'AWS::IoT::Policy',
  'AWS::Logs::LogGroup',
  'AWS::IAM::Role',
] as const;

/** Types whose Arn attribute the template reads of resources moto's CloudFormation creates. */
const ARN_TYPES = new Set(['AWS::KMS::Key', 'AWS::S3::Bucket', 'AWS::SQS::Queue', 'AWS::IAM::Role', 'AWS::Logs::LogGroup']);

const PSEUDO_PARAMETERS = ['AccountId', 'Region', 'Partition', 'URLSuffix'] as const;

/** What the rehearsal deployed. */
export interface Rehearsal {
  readonly platform: SynthesizedPlatform;
  readonly resolver: Resolver;
  /**
   * The stack outputs, by key, as `cdk deploy --outputs-file` writes them;
   * those naming what the rehearsal does not create (managed policies, the
   * alarm topic) are left out.
   */
  readonly outputs: Readonly<Record<string, string>>;
  /** A resource's properties with every intrinsic function resolved. */
  properties(logicalId: string): Record<string, unknown>;
}

/** A resource property the rehearsal does not know how to create in moto. */
export class UnrehearsedProperty extends Error {
  constructor(logicalId: string, detail: string) {
    super(`${logicalId}: ${detail} (teach test/rehearse/moto/deploy.ts to apply it, or say why it cannot be rehearsed)`);
    this.name = 'UnrehearsedProperty';
  }
}

/** A resource's resolved properties in the shape the API calls take; fails naming what does not fit. */
function rehearsed<T extends z.ZodType>(schema: T, logicalId: string, properties: Record<string, unknown>): z.infer<T> {
  const parsed = schema.safeParse(properties);
  if (!parsed.success) throw new UnrehearsedProperty(logicalId, z.prettifyError(parsed.error).replace(/\n/g, ' '));
  return parsed.data;
}

/** Deploys a synthesized platform into moto: CloudFormation where moto supports it, API calls for the rest. */
export async function deployRehearsal(platform: SynthesizedPlatform, clients: RehearsalClients): Promise<Rehearsal> {
  const { template } = platform;
  const resolver = new Resolver();
  await createMotoStack(platform, clients.cloudformation, resolver);

  const properties = (id: string): Record<string, unknown> => {
    const resource = template.Resources[id];
    if (!resource) throw new Error(`no resource ${id} in the template`);
    const resolved = resolver.resolve(resource.Properties ?? {});
    return z.record(z.string(), z.unknown()).parse(resolved);
  };

  const bucketPolicies = resourcesOfType(template, 'AWS::S3::BucketPolicy').map(([id, resource]) =>
    rehearsed(BucketPolicyProperties, id, z.record(z.string(), z.unknown()).parse(resolver.resolve(withoutCloudFrontGrants(resource.Properties ?? {})))),
  );
  for (const p of bucketPolicies) await clients.s3.send(new PutBucketPolicyCommand({ Bucket: p.Bucket, Policy: JSON.stringify(p.PolicyDocument) }));
  // With the policies in place: moto checks a bucket's logging against its target bucket's policy.
  for (const [id] of resourcesOfType(template, 'AWS::S3::Bucket')) {
    // The name CloudFormation (here moto's) gave the bucket, or the one the template sets.
    await configureBucket(clients.s3, resolver.ref(id), rehearsed(BucketProperties, id, properties(id)));
  }
  // moto 5.2.1 evaluates only StringEquals conditions and takes any other as met, so a TLS-only Deny
  // (Bool aws:SecureTransport false) would refuse every object request: such policies come off again.
  for (const p of bucketPolicies.filter((b) => hasDenyMotoCannotEvaluate(b.PolicyDocument))) {
    await clients.s3.send(new DeleteBucketPolicyCommand({ Bucket: p.Bucket }));
  }
  for (const [id] of resourcesOfType(template, 'AWS::Logs::LogStream')) {
    const p = rehearsed(LogStreamProperties, id, properties(id));
    const name = p.LogStreamName ?? `${platform.stackName}-${id}`;
    await clients.logs.send(new CreateLogStreamCommand({ logGroupName: p.LogGroupName, logStreamName: name }));
    resolver.setRef(id, name);
  }
  for (const [id] of resourcesOfType(template, 'AWS::SecretsManager::Secret')) {
    const p = rehearsed(SecretProperties, id, properties(id));
    const { RandomPassword } = await clients.secrets.send(new GetRandomPasswordCommand(p.GenerateSecretString));
    const secret = await clients.secrets.send(
      new CreateSecretCommand({ Name: p.Name ?? `${id}-rehearsal`, Description: p.Description, KmsKeyId: p.KmsKeyId, SecretString: RandomPassword, Tags: p.Tags }),
    );
    resolver.setRef(id, secret.ARN ?? '');
  }
  for (const [id] of resourcesOfType(template, 'AWS::KinesisFirehose::DeliveryStream')) {
    const p = rehearsed(DeliveryStreamProperties, id, properties(id));
    await clients.firehose.send(new CreateDeliveryStreamCommand(p));
    resolver.setRef(id, p.DeliveryStreamName);
  }
  for (const [id] of resourcesOfType(template, 'AWS::Athena::WorkGroup')) {
    const p = rehearsed(WorkGroupProperties, id, properties(id));
    await clients.athena.send(new CreateWorkGroupCommand({ Name: p.Name, Description: p.Description, Configuration: p.WorkGroupConfiguration, Tags: p.Tags }));
    resolver.setRef(id, p.Name);
  }

  const outputs: Record<string, string> = {};
  for (const [key, output] of Object.entries(template.Outputs ?? {})) {
    try {
      outputs[key] = resolver.string(output.Value);
    } catch (error) {
      if (!(error instanceof UnresolvedReference)) throw error;
    }
  }
  return { platform, resolver, outputs, properties };
}

/** The part of the template moto's CloudFormation creates, closed under references, with outputs that expose what the rest needs. */
export function motoStackTemplate(template: CfnTemplate): CfnTemplate {
  const supported = new Set<string>(MOTO_CLOUDFORMATION_TYPES);
  const ids = new Set(Object.entries(template.Resources).filter(([, r]) => supported.has(r.Type)).map(([id]) => id));
  // A resource that refers to one moto does not create cannot be created there either.
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of ids) {
      const refs = referencedIds(template.Resources[id]!.Properties ?? {});
      if ([...refs].some((ref) => !ids.has(ref))) {
        ids.delete(id);
        changed = true;
      }
    }
  }
  const resources: CfnTemplate['Resources'] = {};
  const outputs: NonNullable<CfnTemplate['Outputs']> = {};
  for (const id of ids) {
    const { DependsOn, ...original } = template.Resources[id]!;
    const resource = original.Type === 'AWS::KMS::Key' ? withoutTags(original) : original;
    const dependsOn = (typeof DependsOn === 'string' ? [DependsOn] : (DependsOn ?? [])).filter((d) => ids.has(d));
    resources[id] = dependsOn.length ? { ...resource, DependsOn: dependsOn } : resource;
    outputs[`Ref${id}`] = { Value: { Ref: id } };
    if (ARN_TYPES.has(resource.Type)) outputs[`Arn${id}`] = { Value: { 'Fn::GetAtt': [id, 'Arn'] } };
  }
  for (const p of PSEUDO_PARAMETERS) outputs[`Pseudo${p}`] = { Value: { Ref: `AWS::${p}` } };
  return { AWSTemplateFormatVersion: '2010-09-09', Resources: resources, Outputs: outputs };
}

/**
 * moto 5.2.1's KMS model reads CloudFormation's Key/Value tags as
 * TagKey/TagValue and fails the whole stack on them: the key is created
 * without its tags (nothing the rehearsal checks reads them).
 */
function withoutTags(resource: CfnResource): CfnResource {
  const { Tags: _tags, ...properties } = resource.Properties ?? {};
  return { ...resource, Properties: properties };
}

async function createMotoStack(platform: SynthesizedPlatform, cloudformation: CloudFormationClient, resolver: Resolver): Promise<void> {
  const body = motoStackTemplate(platform.template);
  await cloudformation.send(new CreateStackCommand({ StackName: platform.stackName, TemplateBody: JSON.stringify(body) }));
  const { Stacks } = await cloudformation.send(new DescribeStacksCommand({ StackName: platform.stackName }));
  const stack = Stacks?.[0];
  if (stack?.StackStatus !== 'CREATE_COMPLETE') {
    const { StackEvents } = await cloudformation.send(new DescribeStackEventsCommand({ StackName: platform.stackName }));
    const failures = (StackEvents ?? []).filter((e) => e.ResourceStatus?.endsWith('FAILED')).map((e) => `${e.LogicalResourceId}: ${e.ResourceStatusReason}`);
    const reason = failures.length > 0 ? failures.join('; ') : (stack?.StackStatusReason ?? 'no reason given');
    throw new Error(`moto's CloudFormation left the stack ${stack?.StackStatus ?? 'missing'}: ${reason}`);
  }
  for (const output of stack.Outputs ?? []) {
    const key = output.OutputKey ?? '';
    const value = output.OutputValue ?? '';
    const pseudo = /^Pseudo(.+)$/.exec(key);
    const ref = /^Ref(.+)$/.exec(key);
    const arn = /^Arn(.+)$/.exec(key);
    if (pseudo) resolver.setRef(`AWS::${pseudo[1]}`, value);
    else if (ref) resolver.setRef(ref[1]!, value);
    else if (arn) resolver.setAttribute(arn[1]!, 'Arn', value);
  }
}

const Tags = z.array(z.strictObject({ Key: z.string(), Value: z.string() }));

const PolicyDocument = z.looseObject({
  Statement: z.array(z.looseObject({ Effect: z.enum(['Allow', 'Deny']), Condition: z.record(z.string(), z.unknown()).optional() })),
});
const BucketPolicyProperties = z.strictObject({ Bucket: z.string(), PolicyDocument });

/**
 * A bucket policy without its statements granting CloudFront: the open-data
 * portal bucket's read grant to its distribution, which the rehearsal does
 * not create (moto serves no distribution). The template tests check that
 * grant (test/infra/publishing.test.ts); every other statement is applied.
 */
function withoutCloudFrontGrants(properties: Record<string, unknown>): Record<string, unknown> {
  const document = z.object({ Statement: z.array(z.record(z.string(), z.unknown())) }).passthrough().parse(properties.PolicyDocument);
  const cloudFront = (statement: Record<string, unknown>) => JSON.stringify(statement.Principal) === JSON.stringify({ Service: 'cloudfront.amazonaws.com' });
  return { ...properties, PolicyDocument: { ...document, Statement: document.Statement.filter((statement) => !cloudFront(statement)) } };
}

/** Whether a policy denies under a condition moto cannot evaluate (it evaluates StringEquals only). */
function hasDenyMotoCannotEvaluate(policy: z.infer<typeof PolicyDocument>): boolean {
  return policy.Statement.some((s) => s.Effect === 'Deny' && Object.keys(s.Condition ?? {}).some((operator) => operator !== 'StringEquals'));
}

const LifecycleRule = z.strictObject({
  Id: z.string().optional(),
  Status: z.enum(ExpirationStatus),
  Prefix: z.string().optional(),
  TagFilters: Tags.optional(),
  ObjectSizeGreaterThan: z.coerce.number().optional(),
  ObjectSizeLessThan: z.coerce.number().optional(),
  ExpirationInDays: z.number().optional(),
  ExpirationDate: z.string().optional(),
  ExpiredObjectDeleteMarker: z.boolean().optional(),
  NoncurrentVersionExpiration: z.strictObject({ NoncurrentDays: z.number(), NewerNoncurrentVersions: z.number().optional() }).optional(),
  NoncurrentVersionExpirationInDays: z.number().optional(),
  AbortIncompleteMultipartUpload: z.strictObject({ DaysAfterInitiation: z.number() }).optional(),
  Transitions: z
    .array(z.strictObject({ StorageClass: z.enum(TransitionStorageClass), TransitionInDays: z.number().optional(), TransitionDate: z.string().optional() }))
    .optional(),
  NoncurrentVersionTransitions: z
    .array(z.strictObject({ StorageClass: z.enum(TransitionStorageClass), TransitionInDays: z.number(), NewerNoncurrentVersions: z.number().optional() }))
    .optional(),
});

const BucketProperties = z.strictObject({
  // Applied by moto's CloudFormation, which, like CloudFormation, names a bucket the template leaves unnamed.
  BucketName: z.string().optional(),
  Tags: Tags.optional(),
  // Applied by API calls: moto's CloudFormation leaves them out (BucketKeyEnabled of the encryption too).
  BucketEncryption: z
    .strictObject({
      ServerSideEncryptionConfiguration: z.array(
        z.strictObject({
          BucketKeyEnabled: z.boolean().optional(),
          ServerSideEncryptionByDefault: z.strictObject({ SSEAlgorithm: z.enum(ServerSideEncryption), KMSMasterKeyID: z.string().optional() }),
        }),
      ),
    })
    .optional(),
  VersioningConfiguration: z.strictObject({ Status: z.enum(BucketVersioningStatus) }).optional(),
  LifecycleConfiguration: z.strictObject({ Rules: z.array(LifecycleRule) }).optional(),
  LoggingConfiguration: z.strictObject({ DestinationBucketName: z.string(), LogFilePrefix: z.string().optional() }).optional(),
  NotificationConfiguration: z.strictObject({ EventBridgeConfiguration: z.strictObject({ EventBridgeEnabled: z.boolean() }) }).optional(),
  OwnershipControls: z.strictObject({ Rules: z.array(z.strictObject({ ObjectOwnership: z.enum(ObjectOwnership) })) }).optional(),
  PublicAccessBlockConfiguration: z
    .strictObject({
      BlockPublicAcls: z.boolean().optional(),
      BlockPublicPolicy: z.boolean().optional(),
      IgnorePublicAcls: z.boolean().optional(),
      RestrictPublicBuckets: z.boolean().optional(),
    })
    .optional(),
});

/** A CloudFormation lifecycle rule in the shape of the S3 API. */
function apiLifecycleRule(rule: z.infer<typeof LifecycleRule>): ApiLifecycleRule {
  const tags = rule.TagFilters ?? [];
  const conditions = [rule.Prefix, rule.ObjectSizeGreaterThan, rule.ObjectSizeLessThan].filter((c) => c !== undefined).length + tags.length;
  const filter =
    conditions > 1
      ? { And: { Prefix: rule.Prefix, Tags: tags, ObjectSizeGreaterThan: rule.ObjectSizeGreaterThan, ObjectSizeLessThan: rule.ObjectSizeLessThan } }
      : tags[0]
        ? { Tag: tags[0] }
        : rule.ObjectSizeGreaterThan !== undefined
          ? { ObjectSizeGreaterThan: rule.ObjectSizeGreaterThan }
          : rule.ObjectSizeLessThan !== undefined
            ? { ObjectSizeLessThan: rule.ObjectSizeLessThan }
            : { Prefix: rule.Prefix ?? '' };
  const expires = rule.ExpirationInDays !== undefined || rule.ExpirationDate !== undefined || rule.ExpiredObjectDeleteMarker !== undefined;
  const noncurrentDays = rule.NoncurrentVersionExpiration?.NoncurrentDays ?? rule.NoncurrentVersionExpirationInDays;
  return {
    ID: rule.Id,
    Status: rule.Status,
    Filter: filter,
    ...(expires
      ? {
          Expiration: {
            Days: rule.ExpirationInDays,
            Date: rule.ExpirationDate === undefined ? undefined : new Date(rule.ExpirationDate),
            ExpiredObjectDeleteMarker: rule.ExpiredObjectDeleteMarker,
          },
        }
      : {}),
    ...(noncurrentDays !== undefined
      ? { NoncurrentVersionExpiration: { NoncurrentDays: noncurrentDays, NewerNoncurrentVersions: rule.NoncurrentVersionExpiration?.NewerNoncurrentVersions } }
      : {}),
    ...(rule.AbortIncompleteMultipartUpload ? { AbortIncompleteMultipartUpload: rule.AbortIncompleteMultipartUpload } : {}),
    ...(rule.Transitions
      ? {
          Transitions: rule.Transitions.map((t) => ({
            StorageClass: t.StorageClass,
            Days: t.TransitionInDays,
            Date: t.TransitionDate === undefined ? undefined : new Date(t.TransitionDate),
          })),
        }
      : {}),
    ...(rule.NoncurrentVersionTransitions
      ? {
          NoncurrentVersionTransitions: rule.NoncurrentVersionTransitions.map((t) => ({
            StorageClass: t.StorageClass,
            NoncurrentDays: t.TransitionInDays,
            NewerNoncurrentVersions: t.NewerNoncurrentVersions,
          })),
        }
      : {}),
  };
}

/** Applies what moto's CloudFormation leaves out of a bucket. */
async function configureBucket(s3: S3Client, Bucket: string, p: z.infer<typeof BucketProperties>): Promise<void> {
  if (p.BucketEncryption) {
    const Rules = p.BucketEncryption.ServerSideEncryptionConfiguration.map((r) => ({
      ApplyServerSideEncryptionByDefault: r.ServerSideEncryptionByDefault,
      BucketKeyEnabled: r.BucketKeyEnabled,
    }));
    await s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules } }));
  }
  if (p.VersioningConfiguration) await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: p.VersioningConfiguration }));
  if (p.LifecycleConfiguration) {
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules: p.LifecycleConfiguration.Rules.map(apiLifecycleRule) } }));
  }
  if (p.PublicAccessBlockConfiguration) await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: p.PublicAccessBlockConfiguration }));
  if (p.OwnershipControls) await s3.send(new PutBucketOwnershipControlsCommand({ Bucket, OwnershipControls: p.OwnershipControls }));
  if (p.NotificationConfiguration?.EventBridgeConfiguration.EventBridgeEnabled) {
    await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket, NotificationConfiguration: { EventBridgeConfiguration: {} } }));
  }
  // moto refuses this unless the target bucket's policy lets the logging service write under the prefix.
  if (p.LoggingConfiguration) {
    await s3.send(
      new PutBucketLoggingCommand({
        Bucket,
        BucketLoggingStatus: { LoggingEnabled: { TargetBucket: p.LoggingConfiguration.DestinationBucketName, TargetPrefix: p.LoggingConfiguration.LogFilePrefix ?? '' } },
      }),
    );
  }
}

const LogStreamProperties = z.strictObject({ LogGroupName: z.string(), LogStreamName: z.string().optional() });

const SecretProperties = z.strictObject({
  Name: z.string().optional(),
  Description: z.string().optional(),
  KmsKeyId: z.string().optional(),
  Tags: Tags.optional(),
  GenerateSecretString: z.strictObject({
    PasswordLength: z.number().optional(),
    ExcludeCharacters: z.string().optional(),
    ExcludeNumbers: z.boolean().optional(),
    ExcludePunctuation: z.boolean().optional(),
    ExcludeUppercase: z.boolean().optional(),
    ExcludeLowercase: z.boolean().optional(),
    IncludeSpace: z.boolean().optional(),
    RequireEachIncludedType: z.boolean().optional(),
  }),
});

const DeliveryStreamProperties = z.strictObject({
  DeliveryStreamName: z.string(),
  DeliveryStreamType: z.enum(DeliveryStreamType),
  DeliveryStreamEncryptionConfigurationInput: z.strictObject({ KeyType: z.enum(KeyType), KeyARN: z.string().optional() }).optional(),
  ExtendedS3DestinationConfiguration: z.strictObject({
    BucketARN: z.string(),
    RoleARN: z.string(),
    Prefix: z.string().optional(),
    ErrorOutputPrefix: z.string().optional(),
    CompressionFormat: z.enum(CompressionFormat).optional(),
    FileExtension: z.string().optional(),
    CustomTimeZone: z.string().optional(),
    BufferingHints: z.strictObject({ IntervalInSeconds: z.number().optional(), SizeInMBs: z.number().optional() }).optional(),
    EncryptionConfiguration: z
      .strictObject({ KMSEncryptionConfig: z.strictObject({ AWSKMSKeyARN: z.string() }).optional(), NoEncryptionConfig: z.enum(NoEncryptionConfig).optional() })
      .optional(),
    CloudWatchLoggingOptions: z
      .strictObject({ Enabled: z.boolean().optional(), LogGroupName: z.string().optional(), LogStreamName: z.string().optional() })
      .optional(),
  }),
  Tags: Tags.optional(),
});

const WorkGroupProperties = z.strictObject({
  Name: z.string(),
  Description: z.string().optional(),
  // CloudFormation's own: a new workgroup is enabled, and deletion is not rehearsed.
  State: z.literal('ENABLED').optional(),
  RecursiveDeleteOption: z.boolean().optional(),
  Tags: Tags.optional(),
  WorkGroupConfiguration: z
    .strictObject({
      BytesScannedCutoffPerQuery: z.number().optional(),
      EnforceWorkGroupConfiguration: z.boolean().optional(),
      PublishCloudWatchMetricsEnabled: z.boolean().optional(),
      RequesterPaysEnabled: z.boolean().optional(),
      EngineVersion: z.strictObject({ SelectedEngineVersion: z.string().optional() }).optional(),
      ResultConfiguration: z
        .strictObject({
          OutputLocation: z.string().optional(),
          ExpectedBucketOwner: z.string().optional(),
          EncryptionConfiguration: z.strictObject({ EncryptionOption: z.enum(EncryptionOption), KmsKey: z.string().optional() }).optional(),
        })
        .optional(),
    })
    .optional(),
});
