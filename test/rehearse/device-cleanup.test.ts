/**
 * The stack's device clean-up (infra/constructs/device-cleanup.ts) against
 * moto_server's IoT, which keeps two documented IoT rules a mock would have
 * to be told: DeletePolicy refuses a policy that still has non-default
 * versions (what a stack update of an AWS::IoT::Policy document leaves:
 * CloudFormation updates it with CreatePolicyVersion), and a policy that is
 * gone answers ResourceNotFoundException. CloudFormation's DescribeStacks,
 * which says whether the stack is being deleted, is mocked: moto deletes a
 * stack at once and never reports DELETE_IN_PROGRESS.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateThingCommand,
  CreateThingTypeCommand,
  DescribeThingCommand,
  GetPolicyCommand,
  IoTClient,
  ListAttachedPoliciesCommand,
  ListPolicyVersionsCommand,
} from '@aws-sdk/client-iot';
import type { StackStatus } from '@aws-sdk/client-cloudformation';
import { startMoto, type MotoServer } from '../helpers/moto.ts';
import { loadCleanupHandler, startResponseRecorder, type ResponseRecorder } from '../infra/device-cleanup-harness.ts';

const require = createRequire(import.meta.url);
const cfn = require('@aws-sdk/client-cloudformation') as typeof import('@aws-sdk/client-cloudformation');
const cloudformation = mockClient(cfn.CloudFormationClient);

const STACK_ID = 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Datastroom-dev/1';
let moto: MotoServer;
let iot: IoTClient;
let recorder: ResponseRecorder;

beforeAll(async () => {
  moto = await startMoto();
  // The inline handler builds its IoT client from the environment, as on Lambda.
  for (const [name, value] of Object.entries(moto.env())) vi.stubEnv(name, value);
  iot = new IoTClient(moto.clientConfig);
  recorder = await startResponseRecorder();
});
afterAll(async () => {
  await recorder?.close();
  await moto?.stop();
  vi.unstubAllEnvs();
});
beforeEach(() => {
  cloudformation.reset();
  recorder.clear();
});

const stackIs = (StackStatus: StackStatus) =>
  cloudformation.on(cfn.DescribeStacksCommand, { StackName: STACK_ID }).resolves({ Stacks: [{ StackName: 'Datastroom-dev', StackStatus, CreationTime: new Date(0) }] });
const document = (topic: string) =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:aws:iot:eu-west-1:123456789012:topic/${topic}` }] });
const deleteEvent = (policyName: string, thingTypeName?: string) => ({
  RequestType: 'Delete',
  ResponseURL: recorder.url,
  StackId: STACK_ID,
  RequestId: 'request-1',
  LogicalResourceId: 'IngestionDeviceCleanup',
  PhysicalResourceId: 'device-cleanup',
  ResourceProperties: { PolicyNames: [policyName], ThingTypeNames: thingTypeName ? [thingTypeName] : [], RetrySeconds: '1' },
});
// 22 s left: the handler's deadline (remaining - 20 s) is 2 s away, so a refused delete fails fast.
const context = () => {
  const end = Date.now() + 22_000;
  return { getRemainingTimeInMillis: () => end - Date.now(), logGroupName: '/datastroom/dev/device-cleanup' };
};
const statuses = () => recorder.responses.map((r) => `${r.Status} ${r.Reason}`);

/** A device policy attached to a registered device's certificate, the device a thing of the type. */
async function registeredDevice(policyName: string, thingTypeName: string, thingName: string): Promise<string> {
  await iot.send(new CreatePolicyCommand({ policyName, policyDocument: document('a') }));
  await iot.send(new CreateThingTypeCommand({ thingTypeName }));
  await iot.send(new CreateThingCommand({ thingName, thingTypeName }));
  const certificate = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  const arn = certificate.certificateArn ?? '';
  await iot.send(new AttachPolicyCommand({ policyName, target: arn }));
  await iot.send(new AttachThingPrincipalCommand({ thingName, principal: arn }));
  return arn;
}

describe('the device clean-up against IoT (moto)', () => {
  it('deletes a device policy a stack update changed: its older version first, then the policy', async () => {
    await registeredDevice('p-updated', 't-updated', 'aq-updated');
    // What CloudFormation does when the device policy's document changes in a stack update.
    await iot.send(new CreatePolicyVersionCommand({ policyName: 'p-updated', policyDocument: document('b'), setAsDefault: true }));
    expect((await iot.send(new ListPolicyVersionsCommand({ policyName: 'p-updated' }))).policyVersions).toHaveLength(2);
    stackIs('DELETE_IN_PROGRESS');

    await loadCleanupHandler()(deleteEvent('p-updated', 't-updated'), context());

    expect(statuses()).toEqual(['SUCCESS device policies and thing types released']);
    await expect(iot.send(new GetPolicyCommand({ policyName: 'p-updated' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect((await iot.send(new DescribeThingCommand({ thingName: 'aq-updated' }))).thingTypeName).toBeUndefined();
  });

  it('succeeds when CloudFormation sends the Delete again after a first attempt deleted the policy', async () => {
    await registeredDevice('p-retried', 't-retried', 'aq-retried');
    stackIs('DELETE_IN_PROGRESS');
    await loadCleanupHandler()(deleteEvent('p-retried', 't-retried'), context());
    await loadCleanupHandler()(deleteEvent('p-retried', 't-retried'), context());
    expect(statuses()).toEqual(['SUCCESS device policies and thing types released', 'SUCCESS device policies and thing types released']);
  });

  it('lets go of nothing when an update only removes the custom resource from the stack', async () => {
    const certificate = await registeredDevice('p-live', 't-live', 'aq-live');
    stackIs('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');

    await loadCleanupHandler()(deleteEvent('p-live', 't-live'), context());

    expect(statuses()).toEqual(['SUCCESS the stack is UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, not being deleted: devices stay attached']);
    expect((await iot.send(new ListAttachedPoliciesCommand({ target: certificate }))).policies?.map((p) => p.policyName)).toEqual(['p-live']);
    expect((await iot.send(new DescribeThingCommand({ thingName: 'aq-live' }))).thingTypeName).toBe('t-live');
  });
});
