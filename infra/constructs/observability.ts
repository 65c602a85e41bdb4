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
import { acknowledgeControl } from '../governance/nag.ts';
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

/**
 * A dataset counts as dormant after this many days without a reading: its
 * freshness alarm speaks only while the dataset has had readings within
 * them, so a dataset without sensors yet (or any more) stays quiet.
 */
export const DORMANT_AFTER_DAYS = 7;

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
 * above the threshold per dataset, and a dataset gone quiet. A dataset that
 * has had no reading for DORMANT_AFTER_DAYS (none yet after a deploy, or
 * its sensors retired) is dormant and raises no freshness alarm; one that
 * stops after readings raises it once. All notify one encrypted topic to
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
      // Neither part notifies on its own: the composite below does. Both show ALARM in the console for a
      // dataset without readings (no data counts as breaching), so their descriptions say what that means.
      const freshnessName = `${prefix}${dataset.id}-freshness`;
      const part = `Part of ${freshnessName}; notifies nothing itself.`;
      const stale = new cloudwatch.Alarm(scope, 'Stale', {
        alarmName: `${prefix}${dataset.id}-stale`,
        alarmDescription: `${dataset.id}: no reading for ${minutes} minutes (${props.freshnessIntervals} x ${dataset.governance.updateFrequency}). ${part} In ALARM whenever the dataset has no recent readings, sensors or not.`,
        metric: deliveryStream.metric('IncomingRecords', { statistic: 'Sum', period: window.period }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: window.evaluationPeriods,
        // No data is the problem this alarm exists for.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      const dormant = new cloudwatch.Alarm(scope, 'Dormant', {
        alarmName: `${prefix}${dataset.id}-dormant`,
        alarmDescription: `${dataset.id}: no reading for ${DORMANT_AFTER_DAYS} days (no sensors yet, or none any more). ${part} In ALARM it keeps the freshness alarm quiet.`,
        metric: deliveryStream.metric('IncomingRecords', { statistic: 'Sum', period: Duration.days(1) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: DORMANT_AFTER_DAYS,
        datapointsToAlarm: DORMANT_AFTER_DAYS,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      // OK(dormant), not NOT ALARM(dormant): right after a deploy the dormant alarm has no state yet.
      const freshness = new cloudwatch.CompositeAlarm(scope, 'Freshness', {
        compositeAlarmName: freshnessName,
        alarmDescription: `${dataset.id}: readings stopped (none for ${minutes} minutes, after readings within ${DORMANT_AFTER_DAYS} days)`,
        alarmRule: cloudwatch.AlarmRule.allOf(
          cloudwatch.AlarmRule.fromAlarm(stale, cloudwatch.AlarmState.ALARM),
          cloudwatch.AlarmRule.fromAlarm(dormant, cloudwatch.AlarmState.OK),
        ),
      });
      freshness.addAlarmAction(notify);
      for (const part of [stale, dormant]) {
        acknowledgeControl(
          part,
          'cloudwatch_alarm_action_check',
          'Part of the dataset\'s freshness alarm, which notifies; on its own it would notify for datasets that have no sensors yet.',
        );
      }
      this.alarms.push(freshness);
    }
  }
}
