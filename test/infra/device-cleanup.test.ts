import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DEVICE_CLEANUP_HANDLER } from '../../infra/constructs/device-cleanup.ts';

// The inline handler is CommonJS and requires the SDK itself: mock the very classes it gets.
const require = createRequire(import.meta.url);
const iot = require('@aws-sdk/client-iot') as typeof import('@aws-sdk/client-iot');
const iotMock = mockClient(iot.IoTClient);

type Handler = (event: Record<string, unknown>, context: { getRemainingTimeInMillis(): number; logGroupName: string }) => Promise<void>;

function loadHandler(): Handler {
  const module = { exports: {} as { handler?: Handler } };
  new Function('require', 'module', 'exports', DEVICE_CLEANUP_HANDLER)(require, module, module.exports);
  return module.exports.handler!;
}

/** A local stand-in for CloudFormation's pre-signed response URL: records each PUT body. */
let server: Server;
let responses: Record<string, unknown>[] = [];
let responseUrl = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      responses.push({ method: req.method, ...(JSON.parse(body) as Record<string, unknown>) });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  responseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/response`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  iotMock.reset();
  responses = [];
});

const context = { getRemainingTimeInMillis: () => 600_000, logGroupName: '/datastroom/test/device-cleanup' };
const event = (requestType: string) => ({
  RequestType: requestType,
  ResponseURL: responseUrl,
  StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Datastroom-test/1',
  RequestId: 'request-1',
  LogicalResourceId: 'IngestionDeviceCleanup',
  PhysicalResourceId: 'device-cleanup',
  ResourceProperties: { PolicyNames: ['p-air', 'p-noise'], ThingTypeNames: ['t-air'], RetrySeconds: '0' },
});

describe('the device clean-up run by deleting the stack', () => {
  it('detaches every certificate on every page, deletes each policy and takes the thing type off every thing', async () => {
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

    await loadHandler()(event('Delete'), context);

    const detached = iotMock.commandCalls(iot.DetachPolicyCommand).map((c) => c.args[0].input);
    expect(detached).toEqual([
      { policyName: 'p-air', target: 'cert-1' },
      { policyName: 'p-air', target: 'cert-2' },
      { policyName: 'p-air', target: 'cert-3' },
    ]);
    expect(iotMock.commandCalls(iot.DeletePolicyCommand).map((c) => c.args[0].input.policyName)).toEqual(['p-air', 'p-air', 'p-noise']);
    expect(iotMock.commandCalls(iot.UpdateThingCommand).map((c) => c.args[0].input)).toEqual([
      { thingName: 'aq-1', removeThingType: true },
      { thingName: 'aq-2', removeThingType: true },
    ]);
    expect(responses).toEqual([
      expect.objectContaining({ method: 'PUT', Status: 'SUCCESS', PhysicalResourceId: 'device-cleanup', RequestId: 'request-1' }),
    ]);
  });

  it('changes nothing on create or update', async () => {
    await loadHandler()(event('Create'), context);
    await loadHandler()(event('Update'), context);
    expect(iotMock.calls()).toHaveLength(0);
    expect(responses.map((r) => r.Status)).toEqual(['SUCCESS', 'SUCCESS']);
  });

  it('reports a failure to CloudFormation with IoT’s reason, so the stack says why it cannot be deleted', async () => {
    iotMock.on(iot.ListTargetsForPolicyCommand).rejects(Object.assign(new Error('User is not authorized to perform: iot:ListTargetsForPolicy'), { name: 'UnauthorizedException' }));
    await loadHandler()(event('Delete'), context);
    expect(responses).toEqual([
      expect.objectContaining({
        Status: 'FAILED',
        Reason: 'UnauthorizedException: User is not authorized to perform: iot:ListTargetsForPolicy (log group /datastroom/test/device-cleanup)',
      }),
    ]);
  });

  it('treats a policy that is already gone as deleted', async () => {
    iotMock.on(iot.ListTargetsForPolicyCommand).resolves({ targets: [] });
    iotMock.on(iot.DeletePolicyCommand).rejects(Object.assign(new Error('not found'), { name: 'ResourceNotFoundException' }));
    iotMock.on(iot.ListThingsCommand).resolves({ things: [] });
    await loadHandler()(event('Delete'), context);
    expect(responses.map((r) => r.Status)).toEqual(['SUCCESS']);
  });
});
