/**
 * The cost estimate counts what the stack deploys: the sizing it reads
 * (infra/sizing.ts) and the footprint it declares (alarms, metrics, keys)
 * must be what the synthesized template and the transform's metric line
 * hold, or `datastroom cost` would price another stack.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Template } from 'aws-cdk-lib/assertions';
import { registry } from '../../datasets/index.ts';
import { metricLine } from '../../functions/transform/batch.ts';
import { STACK_FOOTPRINT, STACK_SIZING } from '../../cost/estimate.ts';
import { platform } from '../helpers/stack.ts';

let template: Template;
beforeAll(() => {
  template = platform().template;
});

type Properties = Record<string, unknown>;
const resources = (type: string) => Object.values(template.findResources(type)).map((r) => (r as { Properties: Properties }).Properties);

describe('the footprint datastroom cost prices', () => {
  it('has every delivery stream buffer as the estimate assumes', () => {
    const streams = resources('AWS::KinesisFirehose::DeliveryStream');
    expect(streams).toHaveLength(registry.length);
    for (const stream of streams) {
      const hints = (stream.ExtendedS3DestinationConfiguration as { BufferingHints: Properties }).BufferingHints;
      expect(hints).toEqual({ IntervalInSeconds: STACK_SIZING.bufferingSeconds, SizeInMBs: STACK_SIZING.bufferingMiB });
    }
  });

  it('gives the transform the memory, and its logs the retention, the estimate assumes', () => {
    const transform = resources('AWS::Lambda::Function').filter((f) => String(f.Description ?? '').startsWith('Datastroom transform'));
    expect(transform.map((f) => f.MemorySize)).toEqual([STACK_SIZING.functionMemoryMb]);
    const logGroups = resources('AWS::Logs::LogGroup').filter((g) => /\/(transform|delivery\/)/.test(String(g.LogGroupName)));
    expect(logGroups).toHaveLength(registry.length + 1);
    for (const group of logGroups) expect(group.RetentionInDays).toBe(STACK_SIZING.logRetentionDays);
  });

  it('gives the publishing function the memory, and its schedule the rate, the estimate assumes', () => {
    const publishing = resources('AWS::Lambda::Function').filter((f) => String(f.Description ?? '').startsWith('Datastroom publishing'));
    expect(publishing.map((f) => f.MemorySize)).toEqual([STACK_SIZING.publishingMemoryMb]);
    const schedules = resources('AWS::Events::Rule').filter((r) => r.Description === 'Publishes the open-data portal');
    const minutes = 60 / STACK_SIZING.publishingRunsPerHour;
    expect(schedules.map((r) => r.ScheduleExpression)).toEqual([minutes === 60 ? 'rate(1 hour)' : `rate(${minutes} minutes)`]);
    expect(resources('AWS::CloudFront::Distribution')).toHaveLength(1);
  });

  it('has as many alarm metrics and composite alarms as the estimate counts', () => {
    const metricsOf = (alarm: Properties) => (Array.isArray(alarm.Metrics) ? alarm.Metrics.filter((m: Properties) => m.MetricStat !== undefined).length : 1);
    const alarmMetrics = resources('AWS::CloudWatch::Alarm').reduce((sum, a) => sum + metricsOf(a), 0);
    expect(alarmMetrics).toBe(registry.length * STACK_FOOTPRINT.alarmMetricsPerDataset + STACK_FOOTPRINT.platformAlarmMetrics);
    expect(resources('AWS::CloudWatch::CompositeAlarm')).toHaveLength(registry.length * STACK_FOOTPRINT.compositeAlarmsPerDataset);
  });

  it('has one key and one secret, and the transform reports as many metrics per dataset as counted', () => {
    expect(resources('AWS::KMS::Key')).toHaveLength(STACK_FOOTPRINT.kmsKeys);
    expect(resources('AWS::SecretsManager::Secret')).toHaveLength(STACK_FOOTPRINT.secrets);
    const line = JSON.parse(metricLine('ns', 'air_quality', { rawKey: 'k', received: 1, curated: 1, quarantined: 0, duplicates: 0, outputs: [], canonicalised: false }));
    expect(line._aws.CloudWatchMetrics[0].Metrics).toHaveLength(STACK_FOOTPRINT.customMetricsPerDataset);
    expect(line._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Dataset']]);
  });
});
