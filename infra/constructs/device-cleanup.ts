import { CustomResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as iot from 'aws-cdk-lib/aws-iot';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeControl } from '../governance/nag.ts';
import { logGroupPrefix } from '../names.ts';
import { LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME } from './transform.ts';

/**
 * The clean-up function, inline (CommonJS, the SDK the Node.js runtime ships).
 * CloudFormation sends Delete whenever the custom resource leaves the stack:
 * when the stack is deleted, but also when an update replaces it (its
 * construct path changed) or rolls back its creation. Only the first may let
 * go of the devices, so it acts only while the stack is DELETE_IN_PROGRESS.
 * Then it detaches every target (certificates of devices registered since
 * the deploy) from the device policies, deletes each policy's non-default
 * versions (a stack update that changes a policy document adds a version,
 * and IoT deletes a policy only with its default version alone) and the
 * policy itself, retrying while IoT still reports it attached (a detach
 * takes up to five minutes to settle), so CloudFormation finds it gone; and
 * it takes the thing type off every thing of the platform's types, which IoT
 * requires before a thing type can be deleted. What is already gone counts
 * as released, so a Delete sent again after a partial failure succeeds.
 * Create and Update change nothing.
 */
export const DEVICE_CLEANUP_HANDLER = `
const iot = require('@aws-sdk/client-iot');
const cfn = require('@aws-sdk/client-cloudformation');
const client = new iot.IoTClient({});
const cloudformation = new cfn.CloudFormationClient({});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function unlessGone(request) {
  try {
    return await client.send(request);
  } catch (error) {
    if (error.name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

async function stackStatus(stackId) {
  const answer = await cloudformation.send(new cfn.DescribeStacksCommand({ StackName: stackId }));
  return answer.Stacks && answer.Stacks[0] ? answer.Stacks[0].StackStatus : 'gone';
}

async function releasePolicy(policyName, retryMs, deadline) {
  let marker;
  do {
    const page = await unlessGone(new iot.ListTargetsForPolicyCommand({ policyName, marker, pageSize: 250 }));
    if (!page) return;
    for (const target of page.targets ?? []) await unlessGone(new iot.DetachPolicyCommand({ policyName, target }));
    marker = page.nextMarker;
  } while (marker);
  const versions = await unlessGone(new iot.ListPolicyVersionsCommand({ policyName }));
  if (!versions) return;
  for (const version of versions.policyVersions ?? []) {
    if (!version.isDefaultVersion) await unlessGone(new iot.DeletePolicyVersionCommand({ policyName, policyVersionId: version.versionId }));
  }
  for (;;) {
    try {
      await client.send(new iot.DeletePolicyCommand({ policyName }));
      return;
    } catch (error) {
      if (error.name === 'ResourceNotFoundException') return;
      if (error.name !== 'DeleteConflictException' || Date.now() + retryMs > deadline) throw error;
      await sleep(retryMs);
    }
  }
}

async function releaseThingType(thingTypeName) {
  let nextToken;
  do {
    const page = await unlessGone(new iot.ListThingsCommand({ thingTypeName, nextToken, maxResults: 250 }));
    if (!page) return;
    for (const thing of page.things ?? []) {
      await unlessGone(new iot.UpdateThingCommand({ thingName: thing.thingName, removeThingType: true }));
    }
    nextToken = page.nextToken;
  } while (nextToken);
}

exports.handler = async (event, context) => {
  let status = 'SUCCESS';
  let reason = 'nothing to do';
  try {
    if (event.RequestType === 'Delete') {
      const stack = await stackStatus(event.StackId);
      if (stack !== 'DELETE_IN_PROGRESS') {
        reason = 'the stack is ' + stack + ', not being deleted: devices stay attached';
      } else {
        const props = event.ResourceProperties;
        const retryMs = Number(props.RetrySeconds) * 1000;
        const deadline = Date.now() + context.getRemainingTimeInMillis() - 20000;
        for (const name of props.PolicyNames ?? []) await releasePolicy(name, retryMs, deadline);
        for (const name of props.ThingTypeNames ?? []) await releaseThingType(name);
        reason = 'device policies and thing types released';
      }
    }
  } catch (error) {
    status = 'FAILED';
    reason = (error.name ?? 'Error') + ': ' + (error.message ?? String(error)) + ' (log group ' + context.logGroupName + ')';
  }
  const body = JSON.stringify({
    Status: status,
    Reason: reason,
    PhysicalResourceId: event.PhysicalResourceId ?? 'device-cleanup',
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  });
  await fetch(event.ResponseURL, { method: 'PUT', body, headers: { 'content-type': '' } });
};
`;

/** Props of {@link DeviceCleanup}. */
export interface DeviceCleanupProps {
  readonly envName: string;
  /** Encrypts the function's log group. */
  readonly key: kms.IKey;
  readonly devicePolicies: readonly iot.CfnPolicy[];
  readonly thingTypes: readonly iot.CfnThingType[];
  /** Wait between attempts to delete a policy IoT still reports attached. @default 15 seconds */
  readonly retryInterval?: Duration;
}

/**
 * Lets `cdk destroy` delete the device policies and thing types while
 * devices are still registered: IoT refuses to delete a policy attached to a
 * certificate, or a thing type that things still have. The custom resource
 * references every policy and thing type, so CloudFormation deletes it, and
 * runs the clean-up, before them.
 */
export class DeviceCleanup extends Construct {
  readonly function: lambda.Function;

  constructor(scope: Construct, id: string, props: DeviceCleanupProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `${logGroupPrefix(props.envName)}device-cleanup`,
      retention: logs.RetentionDays.ONE_YEAR,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Datastroom device clean-up: detaches and deletes the device policies, takes things off the thing types',
    });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    const policyArns = props.devicePolicies.map((p) => stack.formatArn({ service: 'iot', resource: 'policy', resourceName: p.ref }));
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['iot:ListTargetsForPolicy', 'iot:ListPolicyVersions', 'iot:DeletePolicyVersion', 'iot:DeletePolicy'],
        resources: policyArns,
      }),
    );
    // Whether CloudFormation is deleting the stack, or only removing the custom resource from it.
    role.addToPolicy(new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: [stack.stackId] }));
    const certificates = stack.formatArn({ service: 'iot', resource: 'cert', resourceName: '*' });
    const things = stack.formatArn({ service: 'iot', resource: 'thing', resourceName: '*' });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['iot:DetachPolicy'], resources: [...policyArns, certificates] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['iot:ListThings'], resources: ['*'] }));
    role.addToPolicy(new iam.PolicyStatement({ actions: ['iot:UpdateThing'], resources: [things] }));
    Validations.of(role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:cert/*]`,
        reason: 'The certificates of devices registered after the deploy are not known to the stack; a policy is detached from whichever it is attached to.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/*]`,
        reason: 'Things are registered after the deploy; the function takes the platform\'s thing type off whichever thing has it.',
      },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'iot:ListThings supports no resource-level permissions; the function lists the things of the platform\'s thing types only.' },
    );

    this.function = new lambda.Function(this, 'Function', {
      runtime: LAMBDA_RUNTIME,
      architecture: LAMBDA_ARCHITECTURE,
      handler: 'index.handler',
      code: lambda.Code.fromInline(DEVICE_CLEANUP_HANDLER),
      memorySize: 256,
      timeout: Duration.minutes(10),
      role,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      description: 'Datastroom device clean-up: lets the stack delete device policies and thing types with devices registered',
    });
    Validations.of(this.function).acknowledge(
      {
        id: 'Serverless-LambdaDLQ',
        reason:
          'CloudFormation invokes the function asynchronously and learns the outcome only from the response the function sends to its callback URL, failures included; a failed clean-up shows on the stack, where a person acts on it, so a dead-letter queue would hold events nobody replays.',
      },
    );

    acknowledgeControl(
      this.function,
      'lambda_inside_vpc_check',
      'The function runs on each create, update and delete of its custom resource (acting only when the stack is deleted) and calls only the IoT and CloudFormation APIs with its role; in a VPC it would need an interface endpoint for each, billed per hour in every Availability Zone, for no traffic that leaves AWS.',
    );

    // Through the service token the resource depends on the function, and so on its role, policy and log group.
    new CustomResource(this, 'Resource', {
      serviceToken: this.function.functionArn,
      resourceType: 'Custom::DatastroomDeviceCleanup',
      properties: {
        PolicyNames: props.devicePolicies.map((p) => p.ref),
        ThingTypeNames: props.thingTypes.map((t) => t.ref),
        RetrySeconds: (props.retryInterval ?? Duration.seconds(15)).toSeconds(),
      },
    });
  }
}
