import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { durationSeconds, type Dataset } from '../../datasets/index.ts';
import type { DatasetIngestion } from './ingestion.ts';
import { tagComponent, tagDataset } from '../governance/tags.ts';
import { alarmNamePrefix } from '../names.ts';

/** Props of {@link Observability}. */
export interface ObservabilityProps {
  readonly envName: string;
  readonly key: kms.IKey;
  readonly deadLetterQueue: sqs.IQueue;
  readonly transformFunction: lambda.IFunction;
  readonly ingestion: readonly DatasetIngestion[];
  readonly metricsNamespace: string;
  /** A dataset is stale after this many update intervals without a reading. */
  readonly freshnessIntervals: number;
  /** Share of quarantined readings that raises the quarantine alarm. */
  readonly quarantineRateThreshold: number;
}

/** The freshness window of a dataset: a number of its update intervals, at least 5 minutes. */
export function freshnessWindow(dataset: Dataset, intervals: number): { period: Duration; evaluationPeriods: number } {
  const seconds = Math.max(300, Math.ceil((durationSeconds(dataset.governance.updateFrequency) ?? 3600) * intervals));
  // CloudWatch periods above a minute are whole minutes and at most a day; longer windows take several periods.
  const evaluationPeriods = Math.ceil(seconds / 86_400);
  const period = Math.ceil(seconds / evaluationPeriods / 60) * 60;
  return { period: Duration.seconds(period), evaluationPeriods };
}

/**
 * Alarms that tell the city's IT team before a dashboard does: raw objects
 * that keep failing (dead letters), transform errors, a quarantine rate
 * above the threshold per dataset, and a dataset gone quiet. The freshness
 * alarm of a dataset treats missing data as missing: a new alarm starts in
 * INSUFFICIENT_DATA, and a dataset without sensors yet (or any more) stays
 * there without a word; once readings flow it is OK, and when they stop it
 * moves to INSUFFICIENT_DATA (the stream reports no records) or ALARM, and
 * either transition notifies, once. All notify one encrypted topic to
 * subscribe to. Alarm names start with the environment's prefix, which the
 * key policy's condition for CloudWatch names.
 */
export class Observability extends Construct {
  readonly topic: sns.Topic;
  /** The alarms that notify the topic. */
  readonly alarms: cloudwatch.AlarmBase[] = [];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    tagComponent(this, 'observability');
    this.topic = new sns.Topic(this, 'Alarms', {
      displayName: `Datastroom ${props.envName} alarms`,
      masterKey: props.key,
      enforceSSL: true,
    });
    const prefix = alarmNamePrefix(props.envName);
    // Documented for CloudWatch alarms publishing to a topic encrypted with a customer managed key; the
    // conditions keep any other account's or stack's alarms from using the key.
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${prefix}*` },
        },
      }),
    );
    const notify = new actions.SnsAction(this.topic);
    const alarm = (scope: Construct, name: string, alarmProps: Omit<cloudwatch.AlarmProps, 'alarmName'>, suffix: string) => {
      const created = new cloudwatch.Alarm(scope, name, { ...alarmProps, alarmName: `${prefix}${suffix}` });
      created.addAlarmAction(notify);
      this.alarms.push(created);
      return created;
    };

    alarm(this, 'DeadLetters', {
      alarmDescription: 'Raw objects failed the transform repeatedly and wait in the dead-letter queue',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, 'dead-letters');
    alarm(this, 'TransformErrors', {
      alarmDescription: 'The transform function failed',
      metric: props.transformFunction.metricErrors({ period: Duration.minutes(5) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }, 'transform-errors');

    for (const { dataset, deliveryStream } of props.ingestion) {
      const scope = new Construct(this, dataset.id);
      tagDataset(scope, dataset);
      const metric = (name: string) =>
        new cloudwatch.Metric({ namespace: props.metricsNamespace, metricName: name, dimensionsMap: { Dataset: dataset.id }, statistic: 'Sum', period: Duration.hours(1) });
      alarm(scope, 'QuarantineRate', {
        alarmDescription: `${dataset.id}: more than ${props.quarantineRateThreshold * 100}% of readings quarantined in an hour`,
        metric: new cloudwatch.MathExpression({
          expression: 'IF(received > 0, quarantined / received, 0)',
          usingMetrics: { received: metric('Received'), quarantined: metric('Quarantined') },
          period: Duration.hours(1),
          label: 'quarantine rate',
        }),
        threshold: props.quarantineRateThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }, `${dataset.id}-quarantine-rate`);

      const window = freshnessWindow(dataset, props.freshnessIntervals);
      const minutes = window.period.toMinutes() * window.evaluationPeriods;
      // One alarm metric, no composite: a new alarm's INSUFFICIENT_DATA is its initial state, not a
      // transition, so it notifies nothing until readings have flowed and then stopped.
      const freshness = alarm(scope, 'Freshness', {
        alarmDescription: `${dataset.id}: no reading for ${minutes} minutes (${props.freshnessIntervals} x ${dataset.governance.updateFrequency}) after readings had arrived. A dataset that never had readings stays in INSUFFICIENT_DATA and notifies nothing.`,
        metric: deliveryStream.metric('IncomingRecords', { statistic: 'Sum', period: window.period }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: window.evaluationPeriods,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      }, `${dataset.id}-freshness`);
      // Firehose reports IncomingRecords only while records arrive: when they stop, the alarm sees no data.
      freshness.addInsufficientDataAction(notify);
    }
  }
}
