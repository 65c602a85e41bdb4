/**
 * The platform's parts in a rehearsal, found by what the template says they
 * are (a stack output, a dataset's prefix or tag, a handler's environment),
 * never by a retyped name.
 */
import { z } from 'zod';
import type { Dataset } from '../../../datasets/index.ts';
import { zonePrefix } from '../../../functions/core/keys.ts';
import { TRANSFORM_ENV } from '../../../functions/transform/config.ts';
import { TAG_KEYS } from '../../../infra/governance/tags.ts';
import type { Rehearsal } from './deploy.ts';
import { S3Destination } from './firehose.ts';
import { outputRef, resourcesOfType } from './template.ts';

function single<T>(found: T[], what: string): T {
  if (found.length !== 1) throw new Error(`expected one ${what} in the template, found ${found.length}`);
  return found[0]!;
}

/** The name of a bucket a stack output names. */
export function bucketOf(rehearsal: Rehearsal, output: string): string {
  return rehearsal.resolver.ref(outputRef(rehearsal.platform.template, output));
}

/** The ARN of the platform's KMS key. */
export function platformKeyArn(rehearsal: Rehearsal): string {
  const [id] = single(resourcesOfType(rehearsal.platform.template, 'AWS::KMS::Key'), 'KMS key');
  return rehearsal.resolver.attribute(id, 'Arn');
}

/** A dataset's delivery stream: the one writing under its raw prefix. */
export function datasetDeliveryStream(rehearsal: Rehearsal, dataset: Dataset) {
  const Stream = z.looseObject({ DeliveryStreamName: z.string(), ExtendedS3DestinationConfiguration: S3Destination });
  const streams = resourcesOfType(rehearsal.platform.template, 'AWS::KinesisFirehose::DeliveryStream')
    .map(([id]) => ({ id, ...Stream.parse(rehearsal.properties(id)) }))
    .filter((s) => s.ExtendedS3DestinationConfiguration.Prefix.startsWith(zonePrefix('raw', dataset.id)));
  return single(streams, `delivery stream of ${dataset.id}`);
}

/** The topic rule feeding a delivery stream: its SQL and the separator its Firehose action adds. */
export function streamTopicRule(rehearsal: Rehearsal, streamId: string): { sql: string; separator: string } {
  const Rule = z.looseObject({
    TopicRulePayload: z.looseObject({
      Sql: z.string(),
      Actions: z.array(z.looseObject({ Firehose: z.looseObject({ DeliveryStreamName: z.object({ Ref: z.string() }), Separator: z.string() }).optional() })),
    }),
  });
  // The devices' rule: the integrations' rule (Integration*) feeds the same stream from its own topic.
  const rules = resourcesOfType(rehearsal.platform.template, 'AWS::IoT::TopicRule').filter(([id]) => !/Integration[A-Z]/.test(id)).flatMap(([, r]) => {
    const payload = Rule.parse(r.Properties).TopicRulePayload;
    const action = payload.Actions.find((a) => a.Firehose?.DeliveryStreamName.Ref === streamId)?.Firehose;
    return action ? [{ sql: payload.Sql, separator: action.Separator }] : [];
  });
  return single(rules, `topic rule into ${streamId}`);
}

/** The transform function as Lambda would run it, and the queue its event source mapping reads. */
export function transformFunction(rehearsal: Rehearsal) {
  const { template } = rehearsal.platform;
  // Other functions (the clean-up at stack deletion) carry no such environment.
  const WithEnvironment = z.looseObject({ Environment: z.looseObject({ Variables: z.record(z.string(), z.unknown()) }).optional() });
  const [functionId] = single(
    resourcesOfType(template, 'AWS::Lambda::Function').filter(([, f]) => TRANSFORM_ENV.rawBucket in (WithEnvironment.parse(f.Properties).Environment?.Variables ?? {})),
    'transform function',
  );
  const props = z
    .looseObject({ Handler: z.string(), MemorySize: z.number(), Environment: z.object({ Variables: z.record(z.string(), z.string()) }) })
    .parse(rehearsal.properties(functionId));
  const Mapping = z.looseObject({
    FunctionName: z.object({ Ref: z.string() }),
    EventSourceArn: z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.literal('Arn')]) }),
    BatchSize: z.number(),
    FunctionResponseTypes: z.array(z.string()),
  });
  const mapping = single(
    resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')
      .map(([, m]) => Mapping.parse(m.Properties))
      .filter((m) => m.FunctionName.Ref === functionId),
    'event source mapping of the transform',
  );
  const queueId = mapping.EventSourceArn['Fn::GetAtt'][0];
  const codeDir = rehearsal.platform.functionCode.get(functionId);
  if (!codeDir) throw new Error('the transform is not bundled: synthesize with bundling');
  return {
    functionId,
    codeDir,
    handler: props.Handler,
    memoryMb: props.MemorySize,
    environment: props.Environment.Variables,
    batchSize: mapping.BatchSize,
    reportsBatchItemFailures: mapping.FunctionResponseTypes.includes('ReportBatchItemFailures'),
    queueUrl: rehearsal.resolver.ref(queueId),
    queueArn: rehearsal.resolver.attribute(queueId, 'Arn'),
  };
}

/** A string property of the one resource of a type that carries a dataset's tag. */
export function datasetResourceProperty(rehearsal: Rehearsal, dataset: Dataset, type: string, property: string): string {
  const Tagged = z.looseObject({ Tags: z.array(z.object({ Key: z.string(), Value: z.string() })) });
  const [id] = single(
    // The dataset's device resources: its integrations' thing type, policy and rule are named Integration*.
    resourcesOfType(rehearsal.platform.template, type).filter(
      ([id, r]) => !/Integration[A-Z]/.test(id) && Tagged.parse(r.Properties).Tags.some((t) => t.Key === TAG_KEYS.dataset && t.Value === dataset.id),
    ),
    `${type} of ${dataset.id}`,
  );
  return z.string().parse(rehearsal.properties(id)[property]);
}
