import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Dataset } from '../../datasets/index.ts';
import { zonePrefix, type Zone } from '../../functions/core/keys.ts';
import type { ZoneBuckets } from '../governance/check.ts';
import { acknowledgeControl } from '../governance/nag.ts';
import { tagComponent } from '../governance/tags.ts';
import { keyAliasName, logGroupPrefix } from '../names.ts';
import { ACCESS_LOG_RETENTION_DAYS } from '../sizing.ts';

/** Props of {@link LakeStorage}. */
export interface LakeStorageProps {
  readonly envName: string;
  readonly datasets: readonly Dataset[];
  /**
   * Delete the buckets, emptied of every object version, and the key with
   * the stack.
   * @default false - buckets and key are retained when the stack is deleted
   * (and removed when the stack's first create rolls back)
   */
  readonly destroyData?: boolean;
  /** Days Athena query results are kept. @default 30 */
  readonly queryResultsDays?: number;
  /**
   * Days noncurrent versions of raw objects outside a dataset's prefixes are
   * kept. A dataset's own raw objects are kept no longer than its retention
   * in any version.
   * @default 7
   */
  readonly noncurrentVersionDays?: number;
}

/** Prefix the topic rules and delivery streams write failed records under, in the raw bucket. */
export const RAW_ERRORS_PREFIX = 'raw-errors/';

/**
 * Where a dataset's messages can land in the raw bucket: its raw zone, and
 * the failed records of its topic rule and delivery stream, which hold the
 * same clear-text payloads.
 */
export function rawPrefixes(datasetId: string): { zone: string; ruleErrors: string; deliveryErrors: string } {
  return {
    zone: zonePrefix('raw', datasetId),
    ruleErrors: `${RAW_ERRORS_PREFIX}rules/${datasetId}/`,
    deliveryErrors: `${RAW_ERRORS_PREFIX}delivery/${datasetId}/`,
  };
}

/**
 * Days a version stays noncurrent in the versioned raw bucket before it is
 * removed: expiry makes the current version noncurrent, so a dataset's
 * objects expire this much (and more, see rawExpirationDays) before its
 * retention.
 */
export const RAW_NONCURRENT_DAYS = 1;

/**
 * Days S3 can add to each lifecycle step: it rounds the time a step falls
 * due up to the next midnight UTC (S3 User Guide, "Lifecycle rules: based on
 * an object's age"; the noncurrent step counts from the delete marker).
 */
export const S3_ROUNDING_DAYS_PER_STEP = 1;

/**
 * After how many days the raw bucket expires a dataset's clear-text
 * messages (its raw zone and its failed records). For personal data the raw
 * retention is a ceiling on every version: expiry and the noncurrent removal
 * are two steps S3 each rounds up to the next midnight UTC, so expiry comes
 * that much earlier too (anpr_passage, 7 days: 4 + 1 + up to 2 of rounding).
 * For other data the retention is the lifecycle's day count, expiry plus
 * noncurrent days, as S3 counts them. Undefined when the retention is too
 * short for that; the governance check then names the dataset.
 */
export function rawExpirationDays(dataset: Dataset): number | undefined {
  const n = dataset.retention?.rawDays;
  if (!validDays(n)) return undefined;
  // Optional chaining: a dataset without a governance record still builds, so the governance check can name it.
  const rounding = (dataset.governance?.personalData.length ?? 0) > 0 ? 2 * S3_ROUNDING_DAYS_PER_STEP : 0;
  const days = n - RAW_NONCURRENT_DAYS - rounding;
  return days >= 1 ? days : undefined;
}

/**
 * The lake's buckets: raw (immutable arrivals, versioned), curated (curated
 * Parquet and quarantine), query results, and the access-log bucket they log
 * to. Every bucket is KMS-encrypted with bucket keys (the log bucket with
 * S3-managed keys, which server access logging requires), blocks public
 * access and refuses plain HTTP. Lifecycle expiry per dataset and zone comes
 * from the registry's retention.
 */
export class LakeStorage extends Construct {
  readonly key: kms.Key;
  readonly rawBucket: s3.Bucket;
  readonly curatedBucket: s3.Bucket;
  readonly resultsBucket: s3.Bucket;
  readonly logBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: LakeStorageProps) {
    super(scope, id);
    tagComponent(this, 'storage');
    // Retained with the stack, but removed when its first create rolls back.
    const destroyData = props.destroyData ?? false;
    const removalPolicy = destroyData ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;
    // Buckets are named by CloudFormation (the stack outputs name them to the CLI): a bucket a failed create
    // could not delete (access logs may already have landed in it) never blocks the retry with "already exists".
    // With destroyData, CloudFormation can delete only empty buckets: every object version goes first (the
    // emptying also denies new objects, so access logs delivered meanwhile cannot refill the log bucket).
    const bucketRemoval = { removalPolicy, autoDeleteObjects: destroyData };

    this.key = new kms.Key(this, 'Key', {
      alias: keyAliasName(props.envName),
      description: `Datastroom ${props.envName}: lake, queues, logs and secrets`,
      enableKeyRotation: true,
      removalPolicy,
    });
    // CloudWatch Logs encrypts with the key only for the platform's log groups (the condition AWS documents for it).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptPlatformLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:${logGroupPrefix(props.envName)}*`,
          },
        },
      }),
    );
    // Grants on the key are for AWS services acting on a resource (S3, Secrets Manager), never handed out by a person.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'GrantsOnlyForAwsResources',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
      }),
    );

    this.logBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(ACCESS_LOG_RETENTION_DAYS), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      ...bucketRemoval,
    });
    const selfLogging = 'This is the access-log bucket the lake buckets log to; logging it to itself would loop.';
    Validations.of(this.logBucket).acknowledge({ id: 'AwsSolutions-S1', reason: selfLogging });
    acknowledgeControl(this.logBucket, 's3_bucket_logging_enabled_check', selfLogging);
    acknowledgeControl(this.logBucket, 's3_bucket_default_encryption_kms_check', 'S3 delivers server access logs only to a bucket encrypted with S3-managed keys (SSE-S3).');
    acknowledgeControl(this.logBucket, 's3_bucket_versioning_enabled_check', 'S3 writes each access log once and the logs expire after a year; versions would only keep deleted logs longer.');
    acknowledgeControl(this.logBucket, 's3_event_notifications_enabled_check', 'Nothing reacts to an access log being written; its events would go nowhere.');
    acknowledgeControl(this.logBucket, 's3_bucket_object_lock_enabled_check', 'Object Lock would stop the yearly expiry from deleting access logs.');

    const lakeBucket = (id: string, role: string, extra: Partial<s3.BucketProps>) =>
      new s3.Bucket(this, id, {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        serverAccessLogsBucket: this.logBucket,
        serverAccessLogsPrefix: `${role}/`,
        ...bucketRemoval,
        ...extra,
      });

    const abort = { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) };
    this.rawBucket = lakeBucket('Raw', 'raw', {
      versioned: true,
      lifecycleRules: [
        abort,
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 7) },
        { id: 'expire-delivery-errors', prefix: RAW_ERRORS_PREFIX, expiration: Duration.days(30) },
        ...rawRules(props.datasets),
      ],
    });
    // Object-created events go to EventBridge, set on the bucket itself: no notification custom resource.
    (this.rawBucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };
    this.curatedBucket = lakeBucket('Curated', 'curated', {
      lifecycleRules: [abort, ...zoneRules(props.datasets, 'curated'), ...zoneRules(props.datasets, 'quarantine')],
    });
    this.resultsBucket = lakeBucket('QueryResults', 'results', {
      lifecycleRules: [abort, { id: 'expire-query-results', expiration: Duration.days(props.queryResultsDays ?? 30) }],
    });

    if (destroyData) {
      // The provider aws-cdk-lib adds, once per stack, for the buckets' autoDeleteObjects.
      const emptier = Stack.of(this).node.tryFindChild('Custom::S3AutoDeleteObjectsCustomResourceProvider');
      if (emptier) {
        acknowledgeControl(
          emptier,
          'lambda_inside_vpc_check',
          'aws-cdk-lib\'s handler that empties a bucket before CloudFormation deletes it (destroyData); it acts only then and calls only the S3 API, for which a VPC would need an endpoint.',
        );
      }
    }

    // The Control Tower controls that do not fit a lake that must delete on schedule, each with why.
    const deletesOnSchedule = (what: string) =>
      `${what} must be deleted at each dataset's retention (personal data included); Object Lock exists to prevent deletion.`;
    acknowledgeControl(
      this.rawBucket,
      's3_bucket_object_lock_enabled_check',
      `${deletesOnSchedule('Raw objects')} Versioning keeps them from being overwritten, and no role may delete them.`,
    );
    acknowledgeControl(this.curatedBucket, 's3_bucket_object_lock_enabled_check', deletesOnSchedule('Curated and quarantine objects'));
    acknowledgeControl(
      this.curatedBucket,
      's3_bucket_versioning_enabled_check',
      'Curated objects are derived from the raw zone and rewritten under the same key when a raw object is transformed again; versions would keep superseded copies past the dataset\'s retention.',
    );
    acknowledgeControl(this.curatedBucket, 's3_event_notifications_enabled_check', 'Nothing reacts to a curated object being written: Athena reads them when queried.');
    acknowledgeControl(this.resultsBucket, 's3_bucket_object_lock_enabled_check', 'Query results expire after queryResultsDays; Object Lock would keep them.');
    acknowledgeControl(
      this.resultsBucket,
      's3_bucket_versioning_enabled_check',
      'Athena writes each result once and results expire after queryResultsDays; versions would keep results, which can hold closed data, longer.',
    );
    acknowledgeControl(this.resultsBucket, 's3_event_notifications_enabled_check', 'Nothing reacts to a query result being written; its events would go nowhere.');
  }

  /** The bucket that holds each zone. */
  zones(): ZoneBuckets {
    const cfn = (bucket: s3.Bucket) => bucket.node.defaultChild as s3.CfnBucket;
    return { raw: cfn(this.rawBucket), curated: cfn(this.curatedBucket), quarantine: cfn(this.curatedBucket) };
  }

  /** The bucket holding a zone. */
  bucketOf(zone: Zone): s3.Bucket {
    return zone === 'raw' ? this.rawBucket : this.curatedBucket;
  }
}

function validDays(n: number | undefined): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n > 0;
}

function zoneRules(datasets: readonly Dataset[], zone: 'curated' | 'quarantine'): s3.LifecycleRule[] {
  const days = (d: Dataset) => (zone === 'curated' ? d.retention?.curatedDays : d.retention?.quarantineDays);
  // A dataset without a valid retention gets no rule here; the governance check fails synth naming it.
  return datasets.flatMap((d) => {
    const n = days(d);
    return validDays(n) ? [{ id: `expire-${zone}-${d.id}`, prefix: zonePrefix(zone, d.id), expiration: Duration.days(n) }] : [];
  });
}

/**
 * The raw bucket is versioned: expiry only turns the current version
 * noncurrent. Each prefix holding a dataset's clear-text messages expires
 * its current version after rawExpirationDays and removes the noncurrent one
 * RAW_NONCURRENT_DAYS later, so no version outlives the retention.
 */
function rawRules(datasets: readonly Dataset[]): s3.LifecycleRule[] {
  return datasets.flatMap((d) => {
    const days = rawExpirationDays(d);
    // Too short a retention for a versioned bucket gets no rule; the governance check names the dataset.
    if (days === undefined) return [];
    const prefixes = rawPrefixes(d.id);
    return Object.entries(prefixes).map(([part, prefix]) => ({
      id: part === 'zone' ? `expire-raw-${d.id}` : `expire-raw-${d.id}-${part}`,
      prefix,
      expiration: Duration.days(days),
      noncurrentVersionExpiration: Duration.days(RAW_NONCURRENT_DAYS),
    }));
  });
}
