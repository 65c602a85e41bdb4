import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { durationSeconds, type PullSource } from '../../datasets/index.ts';
import { integrationSecretPrefix, pullSecretPrefix, PUSH_PATH_ROOT } from '../../functions/core/integrations.ts';
import { PULL_ENV, PULL_STATE_PREFIX } from '../../functions/pull/config.ts';
import { PUSH_ENV } from '../../functions/push/config.ts';
import { acknowledgeControl, acknowledgeObjectPrefixes } from '../governance/nag.ts';
import { tagComponent } from '../governance/tags.ts';
import { logGroupPrefix } from '../names.ts';
import { LOG_RETENTION_DAYS, PUSH_ENDPOINT } from '../sizing.ts';
import type { DatasetIngestion } from './ingestion.ts';
import { platformFunctionProps } from './transform.ts';


/** Props of {@link Integrations}. */
export interface IntegrationsProps {
  readonly envName: string;
  readonly key: kms.IKey;
  /** The datasets' delivery streams: pushed and pulled payloads go where IoT messages go. */
  readonly ingestion: readonly DatasetIngestion[];
  /** Where the pull sources' cursors are kept (under _state/pull/, outside every dataset's prefix). */
  readonly rawBucket: s3.IBucket;
  /** The pull sources to poll. @default - none: no pull function, no schedule */
  readonly pullSources?: readonly PullSource[];
  /** Requests a second the endpoint takes on average, across senders. @default PUSH_ENDPOINT.rateLimit */
  readonly rateLimit?: number;
  /** Requests it takes in a burst. @default PUSH_ENDPOINT.burstLimit */
  readonly burstLimit?: number;
}

/** A function of this construct: no native module, so bundled by esbuild alone. */
function bundled(entry: string): ReturnType<typeof platformFunctionProps> {
  return platformFunctionProps(entry, { format: nodejs.OutputFormat.CJS, target: 'node22', minify: true, sourceMap: false, forceDockerBundling: false });
}

/**
 * Where payloads arrive besides IoT Core: an HTTPS endpoint for
 * integrations' HTTP push, and scheduled polls of the pull sources. Both
 * put raw lines on the datasets' delivery streams, so what they deliver
 * lands in the raw zone exactly as IoT messages do.
 *
 * The endpoint is an API Gateway HTTP API with a Lambda integration:
 * $1.00 a million requests, throttling on the stage, JSON access logs. A
 * REST API costs $3.50 a million and its API keys are for usage plans, not
 * for authentication; a Lambda function URL has neither throttling nor
 * access logs. Integrations authenticate in the function against their
 * secrets in Secrets Manager (datastroom/<env>/integrations/<name>),
 * compared in constant time: a Lambda authorizer would cost a second
 * invocation per request for the same check.
 */
export class Integrations extends Construct {
  readonly api: apigw.HttpApi;
  readonly pushFunction: nodejs.NodejsFunction;
  /** The endpoint's base URL; integrations POST to <url>ingest/<dataset>[/<format>]. */
  readonly url: string;
  readonly pullFunction: nodejs.NodejsFunction | undefined;
  readonly pullSchedules: readonly events.Rule[];

  constructor(scope: Construct, id: string, props: IntegrationsProps) {
    super(scope, id);
    tagComponent(this, 'integrations');
    const stack = Stack.of(this);
    const streams = props.ingestion.map((d) => d.deliveryStream.arn);
    const secretArn = (prefix: string) => stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${prefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    const pushLogs = new logs.LogGroup(this, 'PushLogs', {
      logGroupName: `${logGroupPrefix(props.envName)}push`,
      retention: LOG_RETENTION_DAYS,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const pushRole = new iam.Role(this, 'PushRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Datastroom HTTP push: checks integrations\' secrets, puts their payloads on the delivery streams',
    });
    pushRole.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [pushLogs.logGroupArn] }));
    pushRole.addToPolicy(new iam.PolicyStatement({ actions: ['firehose:PutRecord'], resources: streams }));
    pushRole.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArn(integrationSecretPrefix(props.envName))] }));
    Validations.of(pushRole).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${integrationSecretPrefix(props.envName)}*]`,
        reason: 'Integrations are registered after the deploy (datastroom integrations register), each a secret under this prefix; the function reads whichever one a request names.',
      },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.' },
    );
    this.pushFunction = new nodejs.NodejsFunction(this, 'PushFunction', {
      ...bundled('functions/push/handler.ts'),
      memorySize: PUSH_ENDPOINT.memoryMb,
      timeout: Duration.seconds(PUSH_ENDPOINT.timeoutSeconds),
      // Bounds what a flood of requests can cost, beside the stage's throttling.
      reservedConcurrentExecutions: PUSH_ENDPOINT.concurrency,
      role: pushRole,
      logGroup: pushLogs,
      description: 'Datastroom HTTP push: authenticated payloads of integrations into the raw zone',
      environment: { [PUSH_ENV.envName]: props.envName },
    });
    Validations.of(this.pushFunction).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'API Gateway invokes the function synchronously and answers the sender with its result; a failed push is a 5xx the sender sends again, so there is no event to keep in a dead-letter queue.',
    });
    acknowledgeControl(
      this.pushFunction,
      'lambda_inside_vpc_check',
      'The function calls only AWS APIs (Secrets Manager, Firehose, X-Ray) over TLS with its role; in a VPC it would need an interface endpoint for each, billed per hour in every Availability Zone, for no traffic that leaves AWS.',
    );

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      logGroupName: `${logGroupPrefix(props.envName)}push-access`,
      retention: LOG_RETENTION_DAYS,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new apigw.HttpApi(this, 'Api', {
      apiName: `datastroom-${props.envName}-push`,
      description: 'Datastroom HTTP push: POST /ingest/<dataset>[/<format>] with an integration\'s credentials',
      createDefaultStage: false,
    });
    const integration = new HttpLambdaIntegration('Push', this.pushFunction);
    for (const path of [`/${PUSH_PATH_ROOT}/{dataset}`, `/${PUSH_PATH_ROOT}/{dataset}/{format}`]) {
      this.api.addRoutes({ path, methods: [apigw.HttpMethod.POST], integration });
    }
    new apigw.CfnStage(this, 'Stage', {
      apiId: this.api.apiId,
      stageName: '$default',
      autoDeploy: true,
      defaultRouteSettings: { throttlingRateLimit: props.rateLimit ?? PUSH_ENDPOINT.rateLimit, throttlingBurstLimit: props.burstLimit ?? PUSH_ENDPOINT.burstLimit },
      accessLogSettings: {
        destinationArn: accessLogs.logGroupArn,
        format: JSON.stringify({
          requestId: '$context.requestId',
          ip: '$context.identity.sourceIp',
          requestTime: '$context.requestTime',
          method: '$context.httpMethod',
          path: '$context.path',
          status: '$context.status',
          responseLength: '$context.responseLength',
          integrationError: '$context.integrationErrorMessage',
        }),
      },
    });
    this.url = `https://${this.api.apiId}.execute-api.${stack.region}.${stack.urlSuffix}/`;
    for (const route of this.api.node.children.filter((c): c is apigw.HttpRoute => c instanceof apigw.HttpRoute)) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: 'Each request is authenticated by the function against the integration\'s secret (constant-time comparison); a Lambda authorizer would be a second invocation for the same check.',
      });
      acknowledgeControl(route, 'api_gw_v2_authorization_type_configured_check', 'Each request is authenticated by the function against the integration\'s secret (constant-time comparison); a Lambda authorizer would be a second invocation for the same check.');
    }

    const sources = props.pullSources ?? [];
    const schedules: events.Rule[] = [];
    if (sources.length === 0) {
      this.pullFunction = undefined;
      this.pullSchedules = schedules;
      return;
    }
    const pullLogs = new logs.LogGroup(this, 'PullLogs', {
      logGroupName: `${logGroupPrefix(props.envName)}pull`,
      retention: LOG_RETENTION_DAYS,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const pullRole = new iam.Role(this, 'PullRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Datastroom pull: polls the pull sources, puts their answers on the delivery streams, keeps their cursors',
    });
    pullRole.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [pullLogs.logGroupArn] }));
    const pulledStreams = props.ingestion.filter((d) => sources.some((s) => s.datasetId === d.dataset.id)).map((d) => d.deliveryStream.arn);
    pullRole.addToPolicy(new iam.PolicyStatement({ actions: ['firehose:PutRecord'], resources: pulledStreams }));
    pullRole.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [props.rawBucket.arnForObjects(`${PULL_STATE_PREFIX}*`)] }));
    pullRole.addToPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [props.key.keyArn] }));
    acknowledgeObjectPrefixes(pullRole, props.rawBucket, [PULL_STATE_PREFIX], 'The pull function keeps one cursor object per pull source under this prefix, outside every dataset\'s.');
    const secrets = sources.flatMap((s) => (s.credentials ? [s.credentials.secret] : []));
    if (secrets.length > 0) {
      pullRole.addToPolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: secrets.map((name) => secretArn(`${pullSecretPrefix(props.envName)}${name}`)),
        }),
      );
    }
    Validations.of(pullRole).acknowledge(
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.' },
      ...secrets.map((name) => ({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${pullSecretPrefix(props.envName)}${name}*]`,
        reason: 'Secrets Manager appends six random characters to a secret\'s ARN; the secret is created by the operator after the deploy, so only its name is known.',
      })),
    );
    this.pullFunction = new nodejs.NodejsFunction(this, 'PullFunction', {
      ...bundled('functions/pull/handler.ts'),
      memorySize: PUSH_ENDPOINT.memoryMb,
      // Retries and a Retry-After wait fit in this: see PULL_RETRY.
      timeout: Duration.minutes(5),
      // One poll of a source at a time per schedule tick; a few sources at once.
      reservedConcurrentExecutions: Math.min(sources.length, 5),
      role: pullRole,
      logGroup: pullLogs,
      description: 'Datastroom pull: polls the pull sources into the raw zone',
      environment: { [PULL_ENV.envName]: props.envName, [PULL_ENV.stateBucket]: props.rawBucket.bucketName },
    });
    Validations.of(this.pullFunction).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'A schedule invokes the function; a failed poll leaves the source\'s cursor where it was and the next tick fetches the same window again, so a queue of failed ticks would hold nothing to replay.',
    });
    acknowledgeControl(
      this.pullFunction,
      'lambda_inside_vpc_check',
      'The function calls the pull sources\' public APIs on the internet and AWS APIs (S3, Secrets Manager, Firehose); in a VPC it would need a NAT gateway, billed per hour, to reach the APIs at all.',
    );
    for (const source of sources) {
      const rule = new events.Rule(this, `Schedule-${source.id}`, {
        description: `Polls pull source ${source.id} (${source.title.slice(0, 200)})`,
        schedule: events.Schedule.rate(Duration.seconds(Math.max(60, durationSeconds(source.schedule) ?? 3600))),
      });
      rule.addTarget(new targets.LambdaFunction(this.pullFunction, { event: events.RuleTargetInput.fromObject({ source: source.id }), retryAttempts: 0 }));
      Validations.of(rule).acknowledge({
        id: 'Serverless-EventBusDLQ',
        reason: 'A tick that is not delivered is made up by the next one, which polls from the source\'s cursor; a dead-letter queue of missed ticks would hold nothing to act on.',
      });
      schedules.push(rule);
    }
    this.pullSchedules = schedules;
  }
}
