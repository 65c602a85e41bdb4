import { Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Dataset } from '../../datasets/index.ts';
import { basicIngestTopicFor, datasetTopicFilter, topicFor, topicRuleName } from '../../functions/core/envelope.ts';
import { acknowledgeObjectPrefixes } from '../governance/nag.ts';
import { tagComponent, tagDataset } from '../governance/tags.ts';
import { RAW_ERRORS_PREFIX, rawPrefixes } from './lake-storage.ts';
import { DeviceCleanup } from './device-cleanup.ts';
import { devicePolicyName, integrationPolicyName, integrationThingTypeName, logGroupPrefix, thingTypeName } from '../names.ts';
import {
  basicIngestIntegrationTopicFor,
  deliveryStreamNameFor,
  integrationRuleName,
  integrationTopicFilter,
  integrationTopicFor,
} from '../../functions/core/integrations.ts';
import { DELIVERY_BUFFERING, LOG_RETENTION_DAYS } from '../sizing.ts';

/** Props of {@link Ingestion}. */
export interface IngestionProps {
  readonly envName: string;
  readonly datasets: readonly Dataset[];
  readonly rawBucket: s3.IBucket;
  readonly key: kms.IKey;
  /** How long the delivery stream buffers before it writes a raw object. @default DELIVERY_BUFFERING.intervalSeconds (300 seconds) */
  readonly bufferingInterval?: Duration;
  /** How much it buffers at most. @default DELIVERY_BUFFERING.sizeMiB (5 MiB) */
  readonly bufferingSize?: Size;
}

/** What the cloud ingestion creates for one dataset. */
export interface DatasetIngestion {
  readonly dataset: Dataset;
  readonly deliveryStream: RawDeliveryStream;
  readonly topicRule: iot.CfnTopicRule;
  readonly thingType: iot.CfnThingType;
  readonly devicePolicy: iot.CfnPolicy;
  /** The rule of the dataset's integrations' topic (datastroom/integrations/<dataset>/+). */
  readonly integrationRule: iot.CfnTopicRule;
  readonly integrationThingType: iot.CfnThingType;
  readonly integrationPolicy: iot.CfnPolicy;
}

/**
 * The rule's SQL: the envelope the local ingest writes too (sensor id from
 * the topic, arrival time, a message id digesting topic and payload), with
 * the payload base64-encoded so any bytes survive, JSON or not. A message
 * sent by Basic Ingest (`$aws/rules/<rule>/datastroom/<dataset>/<sensor>`)
 * reaches the rule with the prefix removed: the AWS IoT developer guide says
 * the prefix "isn't available to the topic(Decimal) function", and the rule
 * sees the topic after it. So topic() and topic(3) are those of the plain
 * topic, and a message has the same id whichever way it came.
 */
export function ingestSql(dataset: Dataset): string {
  return [
    'SELECT',
    `  substring(sha256(concat(topic(), encode(*, 'base64'))), 0, 32) AS messageId,`,
    '  topic(3) AS sensorId,',
    `  parse_time("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", timestamp(), "UTC") AS receivedAt,`,
    `  encode(*, 'base64') AS payloadBase64`,
    `FROM '${datasetTopicFilter(dataset.id)}'`,
  ].join('\n');
}

/**
 * The integrations rule's SQL: the same envelope, but the sensor id is the
 * integration's name (the fourth topic level) and `via` says the message
 * came from it (the format then names each reading's sensor). A rule cannot
 * tell a device from an integration by anything but the topic, hence a
 * topic shape of their own: datastroom/integrations/<dataset>/<integration>.
 */
export function integrationIngestSql(dataset: Dataset): string {
  return [
    'SELECT',
    `  substring(sha256(concat(topic(), encode(*, 'base64'))), 0, 32) AS messageId,`,
    '  topic(4) AS sensorId,',
    `  parse_time("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", timestamp(), "UTC") AS receivedAt,`,
    `  concat('mqtt:', topic(4)) AS via,`,
    `  encode(*, 'base64') AS payloadBase64`,
    `FROM '${integrationTopicFilter(dataset.id)}'`,
  ].join('\n');
}

/**
 * IoT Core ingestion, per dataset: a thing type, a device policy that lets a
 * device connect only as its own attached thing and publish only on its own
 * topic (directly to the dataset's rule by Basic Ingest, or through the
 * broker), a topic rule on datastroom/<dataset>/+ with an error action, and a
 * buffered delivery stream writing gzip JSON lines into the raw zone.
 * Integrations (gateways publishing for the sensors behind them) have a
 * thing type, policy and rule of their own per dataset: an integration
 * publishes only on datastroom/integrations/<dataset>/<its name>. When
 * the stack is deleted, the devices registered since are let go of first,
 * so the policies and thing types can be deleted.
 */
export class Ingestion extends Construct {
  readonly datasets: readonly DatasetIngestion[];

  constructor(scope: Construct, id: string, props: IngestionProps) {
    super(scope, id);
    tagComponent(this, 'ingestion');
    const stack = Stack.of(this);
    const ruleRole = new iam.Role(this, 'RuleRole', {
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com'),
      description: 'Lets the Datastroom topic rules deliver to their streams and record failures',
    });
    const errorsPrefix = `${RAW_ERRORS_PREFIX}rules/`;
    ruleRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [props.rawBucket.arnForObjects(`${errorsPrefix}*`)],
      }),
    );
    const { policyDependable: ruleRolePolicy } = ruleRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.key.keyArn] }),
    );
    acknowledgeObjectPrefixes(ruleRole, props.rawBucket, [errorsPrefix], 'The error action writes one object per failed message under this prefix.');

    this.datasets = props.datasets.map((dataset) => {
      const scope = new Construct(this, dataset.id);
      tagDataset(scope, dataset);
      const name = deliveryStreamNameFor(props.envName, dataset.id);
      const prefixes = rawPrefixes(dataset.id);
      const deliveryStream = new RawDeliveryStream(scope, 'Delivery', {
        name,
        rawBucket: props.rawBucket,
        key: props.key,
        prefix: prefixes.zone,
        errorPrefix: prefixes.deliveryErrors,
        logGroupName: `${logGroupPrefix(props.envName)}delivery/${dataset.id}`,
        // Chosen from the benchmark and the cost per object: see DELIVERY_BUFFERING.
        bufferingInterval: props.bufferingInterval ?? Duration.seconds(DELIVERY_BUFFERING.intervalSeconds),
        bufferingSize: props.bufferingSize ?? Size.mebibytes(DELIVERY_BUFFERING.sizeMiB),
      });
      ruleRole.addToPolicy(
        new iam.PolicyStatement({ actions: ['firehose:PutRecord', 'firehose:PutRecordBatch'], resources: [deliveryStream.arn] }),
      );

      // A rule feeding the dataset's delivery stream; a message the stream refused is kept, with IoT's reason, beside the raw zone.
      const feed = (id: string, ruleName: string, description: string, sql: string) => {
        const rule = new iot.CfnTopicRule(scope, id, {
          ruleName,
          topicRulePayload: {
            description,
            sql,
            awsIotSqlVersion: '2016-03-23',
            ruleDisabled: false,
            actions: [{ firehose: { deliveryStreamName: deliveryStream.name, roleArn: ruleRole.roleArn, separator: '\n' } }],
            errorAction: {
              s3: {
                bucketName: props.rawBucket.bucketName,
                key: `${prefixes.ruleErrors}\${parse_time("yyyy-MM-dd", timestamp(), "UTC")}/\${newuuid()}.json`,
                roleArn: ruleRole.roleArn,
              },
            },
          },
        });
        // The role's policy must exist before the rule first delivers (the role itself is referenced already).
        if (ruleRolePolicy) rule.node.addDependency(ruleRolePolicy);
        return rule;
      };
      // A thing may connect as itself when its certificate is attached and it is of the given type, and publish on these topics.
      const thing = '${iot:Connection.Thing.ThingName}';
      const publishPolicy = (id: string, policyName: string, thingType: string, topics: readonly string[]) =>
        new iot.CfnPolicy(scope, id, {
          policyName,
          policyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: ['iot:Connect'],
                Resource: [stack.formatArn({ service: 'iot', resource: 'client', resourceName: thing })],
                Condition: {
                  Bool: { 'iot:Connection.Thing.IsAttached': 'true' },
                  StringEquals: { 'iot:Connection.Thing.ThingTypeName': thingType },
                },
              },
              {
                Effect: 'Allow',
                Action: ['iot:Publish'],
                Resource: topics.map((topic) => stack.formatArn({ service: 'iot', resource: 'topic', resourceName: topic })),
              },
            ],
          },
        });

      const ruleName = topicRuleName(props.envName, dataset.id);
      const topicRule = feed('Rule', ruleName, `${dataset.title}: readings on ${datasetTopicFilter(dataset.id)} into the raw zone`, ingestSql(dataset));

      const thingType = new iot.CfnThingType(scope, 'ThingType', {
        thingTypeName: thingTypeName(props.envName, dataset),
        thingTypeProperties: { thingTypeDescription: `${dataset.title} sensors (${dataset.governance.owner})`.slice(0, 2028) },
      });

      // Its own topic through the broker, or straight to its dataset's rule (Basic Ingest: no messaging charge).
      const devicePolicy = publishPolicy('DevicePolicy', devicePolicyName(props.envName, dataset), thingTypeName(props.envName, dataset), [
        topicFor(dataset.id, thing),
        basicIngestTopicFor(ruleName, dataset.id, thing),
      ]);
      const integrationRuleNameOf = integrationRuleName(props.envName, dataset.id);
      const integrationRule = feed(
        'IntegrationRule',
        integrationRuleNameOf,
        `${dataset.title}: integrations' payloads on ${integrationTopicFilter(dataset.id)} into the raw zone`,
        integrationIngestSql(dataset),
      );
      const integrationThingType = new iot.CfnThingType(scope, 'IntegrationThingType', {
        thingTypeName: integrationThingTypeName(props.envName, dataset),
        thingTypeProperties: { thingTypeDescription: `${dataset.title} integrations: gateways publishing for the sensors behind them`.slice(0, 2028) },
      });
      // Its own integration topic of its dataset only, through the broker or by Basic Ingest.
      const integrationPolicy = publishPolicy('IntegrationPolicy', integrationPolicyName(props.envName, dataset), integrationThingTypeName(props.envName, dataset), [
        integrationTopicFor(dataset.id, thing),
        basicIngestIntegrationTopicFor(integrationRuleNameOf, dataset.id, thing),
      ]);
      return { dataset, deliveryStream, topicRule, thingType, devicePolicy, integrationRule, integrationThingType, integrationPolicy };
    });

    new DeviceCleanup(this, 'DeviceCleanup', {
      envName: props.envName,
      key: props.key,
      devicePolicies: this.datasets.flatMap((d) => [d.devicePolicy, d.integrationPolicy]),
      thingTypes: this.datasets.flatMap((d) => [d.thingType, d.integrationThingType]),
    });
  }
}

/** Props of {@link RawDeliveryStream}. */
export interface RawDeliveryStreamProps {
  readonly name: string;
  readonly rawBucket: s3.IBucket;
  readonly key: kms.IKey;
  /** Where objects go, e.g. raw/air_quality/ (dt=<arrival date>/ is appended). */
  readonly prefix: string;
  /** Where records that could not be delivered go. */
  readonly errorPrefix: string;
  /** Name of the stream's log group, under the platform's log group prefix. */
  readonly logGroupName: string;
  readonly bufferingInterval: Duration;
  readonly bufferingSize: Size;
}

/**
 * A Direct PUT delivery stream into the raw zone: gzip JSON lines, one object
 * per buffer, under dt=<arrival date>/. Built from the L1 resource so that
 * its role names each action it needs and no wildcard.
 */
export class RawDeliveryStream extends Construct {
  readonly name: string;
  readonly arn: string;

  constructor(scope: Construct, id: string, props: RawDeliveryStreamProps) {
    super(scope, id);
    // Operational logs go with the stack: named, they would block a redeploy if kept.
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: props.logGroupName,
      retention: LOG_RETENTION_DAYS,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const logStream = new logs.LogStream(this, 'S3Delivery', { logGroup, removalPolicy: RemovalPolicy.DESTROY });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com'),
      description: `Delivery stream ${props.name}: writes ${props.prefix} objects`,
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:AbortMultipartUpload', 's3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [props.rawBucket.bucketArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
        resources: [props.rawBucket.arnForObjects(`${props.prefix}*`), props.rawBucket.arnForObjects(`${props.errorPrefix}*`)],
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.key.keyArn] }));
    const { policyDependable } = role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    acknowledgeObjectPrefixes(role, props.rawBucket, [props.prefix, props.errorPrefix], 'The stream writes one object per buffer under its own prefixes only.');

    const stream = new firehose.CfnDeliveryStream(this, 'Resource', {
      deliveryStreamName: props.name,
      deliveryStreamType: 'DirectPut',
      deliveryStreamEncryptionConfigurationInput: { keyType: 'AWS_OWNED_CMK' },
      extendedS3DestinationConfiguration: {
        bucketArn: props.rawBucket.bucketArn,
        roleArn: role.roleArn,
        prefix: `${props.prefix}dt=!{timestamp:yyyy-MM-dd}/`,
        errorOutputPrefix: `${props.errorPrefix}!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/`,
        compressionFormat: 'GZIP',
        fileExtension: '.jsonl.gz',
        bufferingHints: { intervalInSeconds: props.bufferingInterval.toSeconds(), sizeInMBs: props.bufferingSize.toMebibytes() },
        encryptionConfiguration: { kmsEncryptionConfig: { awskmsKeyArn: props.key.keyArn } },
        cloudWatchLoggingOptions: { enabled: true, logGroupName: logGroup.logGroupName, logStreamName: logStream.logStreamName },
      },
    });
    // The role's policy must exist before the stream first writes (the role itself is referenced already).
    if (policyDependable) stream.node.addDependency(policyDependable);
    this.name = stream.ref;
    this.arn = stream.attrArn;
  }

  /** A metric of this stream, e.g. IncomingRecords. */
  metric(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({ namespace: 'AWS/Firehose', metricName, dimensionsMap: { DeliveryStreamName: this.name }, ...props });
  }
}
