import { createRequire } from 'node:module';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { loadCleanupHandler as loadHandler, startResponseRecorder, type ResponseRecorder } from './device-cleanup-harness.ts';

// The inline handler is CommonJS and requires the SDK itself: mock the very classes it gets.
const require = createRequire(import.meta.url);
const iot = require('@aws-sdk/client-iot') as typeof import('@aws-sdk/client-iot');
const cfn = require('@aws-sdk/client-cloudformation') as typeof import('@aws-sdk/client-cloudformation');
const iotMock = mockClient(iot.IoTClient);
const cfnMock = mockClient(cfn.CloudFormationClient);

let recorder: ResponseRecorder;
let responseUrl = '';
let responses: ResponseRecorder['responses'] = [];
beforeAll(async () => {
  recorder = await startResponseRecorder();
  responseUrl = recorder.url;
  responses = recorder.responses;
});
afterAll(() => recorder.close());
beforeEach(() => {
  iotMock.reset();
  cfnMock.reset();
  recorder.clear();
});

const STACK_ID = 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Datastroom-test/1';
/** What CloudFormation answers about the stack the Delete comes from. */
const stackIs = (StackStatus: import('@aws-sdk/client-cloudformation').StackStatus) =>
  cfnMock.on(cfn.DescribeStacksCommand, { StackName: STACK_ID }).resolves({ Stacks: [{ StackName: 'Datastroom-test', StackStatus, CreationTime: new Date(0) }] });
const named = (name: string, message: string) => Object.assign(new Error(message), { name });

const context = { getRemainingTimeInMillis: () => 600_000, logGroupName: '/datastroom/test/device-cleanup' };
const event = (requestType: string) => ({
  RequestType: requestType,
  ResponseURL: responseUrl,
  StackId: STACK_ID,
  RequestId: 'request-1',
  LogicalResourceId: 'IngestionDeviceCleanup',
  PhysicalResourceId: 'device-cleanup',
  ResourceProperties: { PolicyNames: ['p-air', 'p-noise'], ThingTypeNames: ['t-air'], RetrySeconds: '0' },
});

describe('the device clean-up run by deleting the stack', () => {
  it('detaches every certificate on every page, deletes each policy with its older versions and takes the thing type off every thing', async () => {
    stackIs('DELETE_IN_PROGRESS');
    iotMock
      .on(iot.ListTargetsForPolicyCommand, { policyName: 'p-air' })
      .resolvesOnce({ targets: ['cert-1', 'cert-2'], nextMarker: 'm2' })
      .resolvesOnce({ targets: ['cert-3'] })
      .on(iot.ListTargetsForPolicyCommand, { policyName: 'p-noise' })
      .resolves({ targets: [] })
      .on(iot.ListThingsCommand, { thingTypeName: 't-air' })
      .resolvesOnce({ things: [{ thingName: 'aq-1' }], nextToken: 'n2' })
      .resolvesOnce({ things: [{ thingName: 'aq-2' }] });
    // A detach takes a while to settle: the first delete still finds the policy attached.
    iotMock
      .on(iot.DeletePolicyCommand, { policyName: 'p-air' })
      .rejectsOnce(Object.assign(new Error('The policy cannot be deleted as the policy is attached to one or more principals'), { name: 'DeleteConflictException' }))
      .resolves({});
    iotMock.on(iot.DeletePolicyCommand, { policyName: 'p-noise' }).resolves({});
    // A stack update changed p-air's document: CloudFormation added version 2 as the default.
    iotMock
      .on(iot.ListPolicyVersionsCommand, { policyName: 'p-air' })
      .resolves({ policyVersions: [{ versionId: '2', isDefaultVersion: true }, { versionId: '1', isDefaultVersion: false }] })
      .on(iot.ListPolicyVersionsCommand, { policyName: 'p-noise' })
      .resolves({ policyVersions: [{ versionId: '1', isDefaultVersion: true }] });

    await loadHandler()(event('Delete'), context);

    const detached = iotMock.commandCalls(iot.DetachPolicyCommand).map((c) => c.args[0].input);
    expect(detached).toEqual([
      { policyName: 'p-air', target: 'cert-1' },
      { policyName: 'p-air', target: 'cert-2' },
      { policyName: 'p-air', target: 'cert-3' },
    ]);
    expect(iotMock.commandCalls(iot.DeletePolicyVersionCommand).map((c) => c.args[0].input)).toEqual([{ policyName: 'p-air', policyVersionId: '1' }]);
    expect(iotMock.commandCalls(iot.DeletePolicyCommand).map((c) => c.args[0].input.policyName)).toEqual(['p-air', 'p-air', 'p-noise']);
    // IoT refuses to delete a policy that still has a non-default version.
    const order = iotMock.calls().map((c) => c.args[0].constructor.name).filter((n) => /^Delete/.test(n));
    expect(order.slice(0, 2)).toEqual(['DeletePolicyVersionCommand', 'DeletePolicyCommand']);
    expect(iotMock.commandCalls(iot.UpdateThingCommand).map((c) => c.args[0].input)).toEqual([
      { thingName: 'aq-1', removeThingType: true },
      { thingName: 'aq-2', removeThingType: true },
    ]);
    expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS', PhysicalResourceId: 'device-cleanup', RequestId: 'request-1' })]);
    expect(recorder.methods).toEqual(['PUT']);
  });

  it('changes nothing on create or update', async () => {
    await loadHandler()(event('Create'), context);
    await loadHandler()(event('Update'), context);
    expect(iotMock.calls()).toHaveLength(0);
    expect(cfnMock.calls()).toHaveLength(0);
    expect(responses.map((r) => r.Status)).toEqual(['SUCCESS', 'SUCCESS']);
  });

  it.each(['UPDATE_COMPLETE_CLEANUP_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS', 'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS'] as const)(
    'lets go of no device when the custom resource leaves a stack that is %s, not being deleted',
    async (status) => {
      stackIs(status);
      await loadHandler()(event('Delete'), context);
      expect(iotMock.calls()).toHaveLength(0);
      expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS', Reason: `the stack is ${status}, not being deleted: devices stay attached` })]);
    },
  );

  it('fails, saying why, when it cannot tell whether the stack is being deleted', async () => {
    cfnMock.on(cfn.DescribeStacksCommand).rejects(named('AccessDenied', 'not authorized to perform: cloudformation:DescribeStacks'));
    await loadHandler()(event('Delete'), context);
    expect(iotMock.calls()).toHaveLength(0);
    expect(responses).toEqual([
      expect.objectContaining({ Status: 'FAILED', Reason: 'AccessDenied: not authorized to perform: cloudformation:DescribeStacks (log group /datastroom/test/device-cleanup)' }),
    ]);
  });

  it('reports a failure to CloudFormation with IoT’s reason, so the stack says why it cannot be deleted', async () => {
    stackIs('DELETE_IN_PROGRESS');
    iotMock.on(iot.ListTargetsForPolicyCommand).rejects(Object.assign(new Error('User is not authorized to perform: iot:ListTargetsForPolicy'), { name: 'UnauthorizedException' }));
    await loadHandler()(event('Delete'), context);
    expect(responses).toEqual([
      expect.objectContaining({
        Status: 'FAILED',
        Reason: 'UnauthorizedException: User is not authorized to perform: iot:ListTargetsForPolicy (log group /datastroom/test/device-cleanup)',
      }),
    ]);
  });

  it('treats policies and thing types that are already gone as released, so a Delete sent again succeeds', async () => {
    stackIs('DELETE_IN_PROGRESS');
    // What IoT answers for a policy or thing type a first attempt already deleted.
    iotMock.on(iot.ListTargetsForPolicyCommand).rejects(named('ResourceNotFoundException', 'Policy not found'));
    iotMock.on(iot.ListThingsCommand).rejects(named('ResourceNotFoundException', 'Thing type not found'));
    await loadHandler()(event('Delete'), context);
    expect(iotMock.commandCalls(iot.ListTargetsForPolicyCommand)).toHaveLength(2);
    expect(iotMock.commandCalls(iot.DeletePolicyCommand)).toHaveLength(0);
    expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS', Reason: 'device policies and thing types released' })]);
  });

  it('goes on past a certificate, version or thing that disappears while it works', async () => {
    stackIs('DELETE_IN_PROGRESS');
    iotMock.on(iot.ListTargetsForPolicyCommand, { policyName: 'p-air' }).resolves({ targets: ['cert-gone', 'cert-2'] });
    iotMock.on(iot.ListTargetsForPolicyCommand, { policyName: 'p-noise' }).resolves({ targets: [] });
    iotMock.on(iot.DetachPolicyCommand, { target: 'cert-gone' }).rejects(named('ResourceNotFoundException', 'certificate not found'));
    iotMock.on(iot.ListPolicyVersionsCommand).resolves({ policyVersions: [{ versionId: '1', isDefaultVersion: false }, { versionId: '2', isDefaultVersion: true }] });
    iotMock.on(iot.DeletePolicyVersionCommand).rejects(named('ResourceNotFoundException', 'version not found'));
    iotMock.on(iot.DeletePolicyCommand).resolves({});
    iotMock.on(iot.ListThingsCommand).resolves({ things: [{ thingName: 'gone' }] });
    iotMock.on(iot.UpdateThingCommand).rejects(named('ResourceNotFoundException', 'thing not found'));
    await loadHandler()(event('Delete'), context);
    expect(iotMock.commandCalls(iot.DetachPolicyCommand).map((c) => c.args[0].input.target)).toEqual(['cert-gone', 'cert-2']);
    expect(iotMock.commandCalls(iot.DeletePolicyCommand).map((c) => c.args[0].input.policyName)).toEqual(['p-air', 'p-noise']);
    expect(responses.map((r) => r.Status)).toEqual(['SUCCESS']);
  });
});
