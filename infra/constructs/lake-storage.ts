import { Aws, Duration, Fn, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Dataset } from '../../datasets/index.ts';
import { zonePrefix, type Zone } from '../../functions/core/keys.ts';
import type { ZoneBuckets } from '../governance/check.ts';
import { tagComponent } from '../governance/tags.ts';

/** Props of {@link LakeStorage}. */
export interface LakeStorageProps {
  readonly envName: string;
  readonly datasets: readonly Dataset[];
  /** @default false - buckets and key are retained when the stack is deleted */
  readonly destroyData?: boolean;
  /** Days Athena query results are kept. @default 30 */
  readonly queryResultsDays?: number;
  /** Days noncurrent versions of raw objects are kept. @default 7 */
  readonly noncurrentVersionDays?: number;
}

/** Prefix the delivery streams write failed records under, in the raw bucket. */
export const RAW_ERRORS_PREFIX = 'raw-errors/';

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
    const removalPolicy = props.destroyData ?? false ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const name = (role: string) => Fn.join('-', ['datastroom', props.envName, role, Aws.ACCOUNT_ID, Aws.REGION]);

    this.key = new kms.Key(this, 'Key', {
      alias: `alias/datastroom-${props.envName}`,
      description: `Datastroom ${props.envName}: lake, queues, logs and secrets`,
      enableKeyRotation: true,
      removalPolicy,
    });

    this.logBucket = new s3.Bucket(this, 'AccessLogs', {
      bucketName: name('logs'),
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy,
    });
    Validations.of(this.logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket the lake buckets log to; logging it to itself would loop.',
    });

    const lakeBucket = (id: string, role: string, extra: Partial<s3.BucketProps>) =>
      new s3.Bucket(this, id, {
        bucketName: name(role),
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        serverAccessLogsBucket: this.logBucket,
        serverAccessLogsPrefix: `${role}/`,
        removalPolicy,
        ...extra,
      });

    const abort = { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) };
    this.rawBucket = lakeBucket('Raw', 'raw', {
      versioned: true,
      lifecycleRules: [
        abort,
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 7) },
        { id: 'expire-delivery-errors', prefix: RAW_ERRORS_PREFIX, expiration: Duration.days(30) },
        ...zoneRules(props.datasets, 'raw'),
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

function zoneRules(datasets: readonly Dataset[], zone: Zone): s3.LifecycleRule[] {
  const days: Record<Zone, (d: Dataset) => number | undefined> = {
    raw: (d) => d.retention?.rawDays,
    curated: (d) => d.retention?.curatedDays,
    quarantine: (d) => d.retention?.quarantineDays,
  };
  // A dataset without a valid retention gets no rule here; the governance check fails synth naming it.
  return datasets.flatMap((d) => {
    const n = days[zone](d);
    return typeof n === 'number' && Number.isInteger(n) && n > 0
      ? [{ id: `expire-${zone}-${d.id}`, prefix: zonePrefix(zone, d.id), expiration: Duration.days(n) }]
      : [];
  });
}
