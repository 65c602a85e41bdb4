import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';

/** How a function that catches up on each run is scheduled and watched. */
export interface ScheduledRunProps {
  /** The schedule rule's description. */
  readonly description: string;
  /** Runs an hour; the schedule is a rate of 60 / runsPerHour minutes. */
  readonly runsPerHour: number;
  /** @default - every 60 / runsPerHour minutes */
  readonly schedule?: events.Schedule;
  /** What a run that is missed leaves to the next (why no dead-letter queue). */
  readonly missedRun: string;
  readonly alarmName: string;
  /** What a failed run leaves behind, for whoever the alarm wakes. */
  readonly alarmDescription: string;
  readonly alarmTopic: sns.ITopic;
}

/**
 * A schedule for a function whose every run takes up whatever is due (so a
 * missed tick is not retried), and an alarm on its errors. Constructs
 * `Schedule` and `Errors` under the scope.
 */
export function scheduleRuns(scope: Construct, fn: lambda.IFunction, props: ScheduledRunProps): { rule: events.Rule; alarm: cloudwatch.Alarm } {
  const rule = new events.Rule(scope, 'Schedule', {
    description: props.description,
    schedule: props.schedule ?? events.Schedule.rate(Duration.minutes(60 / props.runsPerHour)),
  });
  rule.addTarget(new targets.LambdaFunction(fn, { retryAttempts: 0 }));
  Validations.of(rule).acknowledge({ id: 'Serverless-EventBusDLQ', reason: props.missedRun });
  const alarm = new cloudwatch.Alarm(scope, 'Errors', {
    alarmName: props.alarmName,
    alarmDescription: props.alarmDescription,
    metric: fn.metricErrors({ period: Duration.hours(1) }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
  return { rule, alarm };
}
