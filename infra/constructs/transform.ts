import { join, resolve } from 'node:path';
import { Duration, RemovalPolicy, Size, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { zonePrefix } from '../../functions/core/keys.ts';
import { TRANSFORM_DEFAULTS, type TransformPolicy } from '../../functions/core/reading.ts';
import { TRANSFORM_ENV } from '../../functions/transform/config.ts';
import type { Dataset } from '../../datasets/index.ts';
import { acknowledgeControl, acknowledgeObjectPrefixes } from '../governance/nag.ts';
import { tagComponent } from '../governance/tags.ts';
import { logGroupPrefix } from '../names.ts';
import { duckdbMemoryMb, LOG_RETENTION_DAYS, TRANSFORM_FUNCTION } from '../sizing.ts';

/** The Lambda runtime: the newest Node.js aws-cdk-lib offers. */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** The architecture the bundled DuckDB binary is built for. */
export const LAMBDA_ARCHITECTURE = lambda.Architecture.X86_64;

/** The native packages the transform loads at run time, shipped beside the bundle. */
export const NATIVE_PACKAGES = ['@duckdb/node-api', '@duckdb/node-bindings', '@duckdb/node-bindings-linux-x64'] as const;

/**
 * How a function that runs DuckDB is bundled: esbuild (never Docker), with
 * the native DuckDB packages for the function's architecture copied from this
 * install (no network); `after` adds commands run in the bundle's folder.
 */
/** The project's root: functions are bundled from it, with its lock file. */
const PROJECT_ROOT = resolve(import.meta.dirname, '../..');

/** What every function of the platform shares: its handler bundled from the project, the runtime and architecture, active tracing. */
export function platformFunctionProps(
  entry: string,
  bundling: nodejs.BundlingOptions,
): Pick<nodejs.NodejsFunctionProps, 'entry' | 'handler' | 'projectRoot' | 'depsLockFilePath' | 'runtime' | 'architecture' | 'bundling' | 'tracing'> {
  return {
    entry: join(PROJECT_ROOT, entry),
    handler: 'handler',
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
    runtime: LAMBDA_RUNTIME,
    architecture: LAMBDA_ARCHITECTURE,
    tracing: lambda.Tracing.ACTIVE,
    bundling,
  };
}

export function duckdbBundling(after: (inputDir: string, outputDir: string) => string[] = () => []): nodejs.BundlingOptions {
  return {
    format: nodejs.OutputFormat.CJS,
    target: 'node22',
    minify: true,
    // No source map: Node ignores one unless started with --enable-source-maps, which loads it at cold start and
    // makes every Error.stack slower; the handler's named errors say what went wrong without it.
    sourceMap: false,
    forceDockerBundling: false,
    externalModules: [...NATIVE_PACKAGES],
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (inputDir: string, outputDir: string) => [
        `mkdir -p "${outputDir}/node_modules/@duckdb"`,
        ...NATIVE_PACKAGES.map((p) => `cp -R "${inputDir}/node_modules/${p}" "${outputDir}/node_modules/@duckdb/"`),
        ...after(inputDir, outputDir),
      ],
    },
  };
}


/** Props of {@link Transform}. */
export interface TransformProps {
  readonly envName: string;
  readonly datasets: readonly Dataset[];
  readonly rawBucket: s3.IBucket;
  readonly curatedBucket: s3.IBucket;
  readonly key: kms.IKey;
  /**
   * @default false - the pseudonymisation secret is retained with the stack's
   * data (and removed when the stack's first create rolls back)
   */
  readonly destroyData?: boolean;
  /**
   * How far event times may lie from arrival; the catalog's partition
   * projection covers the same window.
   * @default TRANSFORM_DEFAULTS
   */
  readonly policy?: TransformPolicy;
  /** @default TRANSFORM_FUNCTION.memoryMb (1,024 MB, chosen from the benchmark: see infra/sizing.ts) */
  readonly memorySizeMb?: number;
  /** @default TRANSFORM_FUNCTION.timeoutSeconds (5 minutes) */
  readonly timeout?: Duration;
  /** Namespace of the metrics the function emits. */
  readonly metricsNamespace: string;
}

/**
 * The transform: raw object-created events (EventBridge) into a queue with a
 * dead-letter queue, a Lambda that runs the core transform on each object
 * with partial batch failures, and the secret holding the pseudonymisation
 * key. The function's role can read raw objects and write curated and
 * quarantine objects, nothing else.
 */
export class Transform extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly function: nodejs.NodejsFunction;
  readonly secret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: TransformProps) {
    super(scope, id);
    tagComponent(this, 'transform');
    const timeout = props.timeout ?? Duration.seconds(TRANSFORM_FUNCTION.timeoutSeconds);
    const memorySize = props.memorySizeMb ?? TRANSFORM_FUNCTION.memoryMb;
    const policy = props.policy ?? TRANSFORM_DEFAULTS;

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const isDeadLetterQueue = 'This is the dead-letter queue of the transform queue; it has none of its own.';
    Validations.of(this.deadLetterQueue).acknowledge(
      { id: 'AwsSolutions-SQS3', reason: isDeadLetterQueue },
      { id: 'Serverless-SQSRedrivePolicy', reason: isDeadLetterQueue },
    );
    acknowledgeControl(this.deadLetterQueue, 'sqs_dlq_check', isDeadLetterQueue);
    this.queue = new sqs.Queue(this, 'RawObjects', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Six times the function timeout, as Lambda advises for SQS sources.
      visibilityTimeout: Duration.seconds(timeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });

    const rule = new events.Rule(this, 'RawObjectCreated', {
      description: 'Raw objects written by the delivery streams, to the transform queue',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [props.rawBucket.bucketName] }, object: { key: [{ prefix: 'raw/' }] } },
      },
    });
    rule.addTarget(new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 10 }));

    this.secret = new secretsmanager.Secret(this, 'PseudonymKey', {
      description: `Datastroom ${props.envName}: key of the HMAC that pseudonymises personal data`,
      encryptionKey: props.key,
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      removalPolicy: props.destroyData ?? false ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Rotating the pseudonymisation key would give every person a new pseudonym and break linkage across the retention period; it is rotated on purpose, with a re-pseudonymisation, not on a schedule.',
    });

    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `${logGroupPrefix(props.envName)}transform`,
      retention: LOG_RETENTION_DAYS,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Datastroom transform: reads raw objects, writes curated and quarantine objects',
    });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    const rawPrefixes = props.datasets.map((d) => zonePrefix('raw', d.id));
    const outputPrefixes = props.datasets.flatMap((d) => [zonePrefix('curated', d.id), zonePrefix('quarantine', d.id)]);
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: rawPrefixes.map((p) => props.rawBucket.arnForObjects(`${p}*`)) }));
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: outputPrefixes.map((p) => props.curatedBucket.arnForObjects(`${p}*`)) }),
    );
    acknowledgeObjectPrefixes(role, props.rawBucket, rawPrefixes, 'The transform reads the raw objects of the registry\'s datasets, which arrive under these prefixes.');
    acknowledgeObjectPrefixes(role, props.curatedBucket, outputPrefixes, 'The transform writes curated and quarantine objects of the registry\'s datasets under these prefixes.');
    role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [props.key.keyArn] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.secret.secretArn] }));

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      ...platformFunctionProps('functions/transform/handler.ts', duckdbBundling()),
      memorySize,
      timeout,
      ephemeralStorageSize: Size.gibibytes(4),
      role,
      logGroup,
      description: 'Datastroom transform: raw JSON lines to curated Parquet and quarantine',
      environment: {
        [TRANSFORM_ENV.rawBucket]: props.rawBucket.bucketName,
        [TRANSFORM_ENV.curatedBucket]: props.curatedBucket.bucketName,
        [TRANSFORM_ENV.pseudonymSecretArn]: this.secret.secretArn,
        // DuckDB gets most of the memory; the rest is Node's and the SDK's.
        [TRANSFORM_ENV.duckdbMemoryMb]: String(duckdbMemoryMb(memorySize)),
        [TRANSFORM_ENV.metricsNamespace]: props.metricsNamespace,
        [TRANSFORM_ENV.futureToleranceSeconds]: String(policy.futureToleranceSeconds),
        [TRANSFORM_ENV.maxLatenessDays]: String(policy.maxLatenessDays),
      },
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    });
    Validations.of(this.function).acknowledge(
      {
        id: 'Serverless-LambdaDLQ',
        reason: 'The function is only invoked synchronously by its SQS event source; a failed message returns to the queue and then to its dead-letter queue.',
      },
      {
        id: 'Serverless-LambdaEventSourceMappingDestination',
        reason: 'On-failure destinations apply to stream sources; for an SQS source the queue\'s redrive policy sends failed messages to the dead-letter queue.',
      },
    );
    acknowledgeControl(
      this.function,
      'lambda_inside_vpc_check',
      'The transform calls only S3 and Secrets Manager, over TLS with its role; its metrics go out in its log lines, which Lambda delivers, as it records the trace. In a VPC, S3 would take a gateway endpoint (no charge) but Secrets Manager an interface endpoint, billed per hour in every Availability Zone, or a NAT gateway, for no traffic that leaves AWS.',
    );
    this.function.addEventSource(
      new SqsEventSource(this.queue, { batchSize: TRANSFORM_FUNCTION.batchSize, reportBatchItemFailures: true }),
    );
  }
}
