import { Duration, RemovalPolicy, Size, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { Dataset } from '../../datasets/index.ts';
import { COMPACTION_DEFAULTS, type CompactionPolicy } from '../../functions/core/compaction.ts';
import { zonePrefix } from '../../functions/core/keys.ts';
import { TRANSFORM_DEFAULTS } from '../../functions/core/reading.ts';
import { COMPACTION_ENV } from '../../functions/compaction/config.ts';
import { acknowledgeControl, acknowledgeObjectPrefixes } from '../governance/nag.ts';
import { tagComponent } from '../governance/tags.ts';
import { alarmNamePrefix, logGroupPrefix } from '../names.ts';
import { COMPACTION_FUNCTION } from '../sizing.ts';
import { scheduleRuns } from './scheduled-run.ts';
import { duckdbBundling, platformFunctionProps } from './transform.ts';


/** Props of {@link Compaction}. */
export interface CompactionProps {
  readonly envName: string;
  readonly datasets: readonly Dataset[];
  readonly curatedBucket: s3.IBucket;
  readonly key: kms.IKey;
  /** Where a failed run is alarmed. */
  readonly alarmTopic: sns.ITopic;
  readonly metricsNamespace: string;
  /** @default COMPACTION_DEFAULTS */
  readonly policy?: CompactionPolicy;
  /** How late a reading may arrive; older partitions are not looked at. @default TRANSFORM_DEFAULTS.maxLatenessDays */
  readonly maxLatenessDays?: number;
  /** @default - every hour (COMPACTION_FUNCTION.runsPerHour) */
  readonly schedule?: events.Schedule;
  /** @default COMPACTION_FUNCTION.memoryMb */
  readonly memorySizeMb?: number;
  /** @default COMPACTION_FUNCTION.timeoutSeconds */
  readonly timeout?: Duration;
}

/**
 * Compaction of the curated zone: a Lambda (the same bundling as the
 * transform, DuckDB's native binary beside it) run every hour by an
 * EventBridge schedule. It rewrites each settled partition into one Parquet
 * file per arrival date and removes compacted files past their readings'
 * retention. Its role lists, reads, writes and deletes curated objects of
 * the registry's datasets, nothing else; a failed run raises an alarm.
 */
export class Compaction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly rule: events.Rule;
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: CompactionProps) {
    super(scope, id);
    tagComponent(this, 'compaction');
    const timeout = props.timeout ?? Duration.seconds(COMPACTION_FUNCTION.timeoutSeconds);
    const memorySize = props.memorySizeMb ?? COMPACTION_FUNCTION.memoryMb;
    const policy = props.policy ?? COMPACTION_DEFAULTS;

    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `${logGroupPrefix(props.envName)}compaction`,
      retention: logs.RetentionDays.ONE_YEAR,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Datastroom compaction: rewrites the curated partitions of the registry\'s datasets',
    });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    const prefixes = props.datasets.map((d) => zonePrefix('curated', d.id));
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [props.curatedBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: prefixes.map((p) => props.curatedBucket.arnForObjects(`${p}*`)),
      }),
    );
    acknowledgeObjectPrefixes(role, props.curatedBucket, prefixes, 'Compaction reads, rewrites and removes the curated objects of the registry\'s datasets, which the transform creates under these prefixes.');
    role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [props.key.keyArn] }));

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      ...platformFunctionProps('functions/compaction/handler.ts', duckdbBundling()),
      memorySize,
      timeout,
      ephemeralStorageSize: Size.gibibytes(COMPACTION_FUNCTION.ephemeralGiB),
      // One run at a time: two would rewrite the same partitions.
      reservedConcurrentExecutions: 1,
      role,
      logGroup,
      description: 'Datastroom compaction: settled curated partitions into few large Parquet files',
      environment: {
        [COMPACTION_ENV.curatedBucket]: props.curatedBucket.bucketName,
        [COMPACTION_ENV.duckdbMemoryMb]: String(Math.floor(memorySize * 0.6)),
        [COMPACTION_ENV.settleMinutes]: String(policy.settleMinutes),
        [COMPACTION_ENV.maxWaitHours]: String(policy.maxWaitHours),
        [COMPACTION_ENV.targetFileMb]: String(policy.targetFileMb),
        [COMPACTION_ENV.maxLatenessDays]: String(props.maxLatenessDays ?? TRANSFORM_DEFAULTS.maxLatenessDays),
        [COMPACTION_ENV.metricsNamespace]: props.metricsNamespace,
      },
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    });
    Validations.of(this.function).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'The schedule invokes the function every hour and a run takes up whatever the last one left; a failed run raises the compaction alarm, and a queue of missed runs would add nothing.',
    });
    acknowledgeControl(
      this.function,
      'lambda_inside_vpc_check',
      'Compaction calls only AWS APIs (S3, CloudWatch, X-Ray) over TLS with its role; in a VPC it would need an interface endpoint for each, or a NAT gateway, for no traffic that leaves AWS.',
    );

    ({ rule: this.rule, alarm: this.alarm } = scheduleRuns(this, this.function, {
      description: 'Compacts the settled curated partitions',
      runsPerHour: COMPACTION_FUNCTION.runsPerHour,
      schedule: props.schedule,
      missedRun: 'An hourly schedule: a run that is not delivered is made up by the next one, which takes up whatever is due; a dead-letter queue of missed ticks would hold nothing to act on.',
      alarmName: `${alarmNamePrefix(props.envName)}compaction-errors`,
      alarmDescription: 'Compaction failed: partitions keep their per-object files until a run succeeds (see the function\'s log)',
      alarmTopic: props.alarmTopic,
    }));
  }
}
