/**
 * The IoT and Athena adapters with the SDK mocked at the client level: the
 * exact commands they send, pagination, query states, and cleanup.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteConflictException,
  DeleteThingCommand,
  DescribeEndpointCommand,
  DescribeThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  InvalidRequestException,
  IoTClient,
  ListThingPrincipalsCommand,
  ListThingsCommand,
  ResourceNotFoundException,
  UnauthorizedException,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type QueryExecutionState,
} from '@aws-sdk/client-athena';
import { DeviceStillAttached, listDevices, registerDevice, revokeDevice } from '../../functions/adapters/iot-devices.ts';
import { athenaCost, AthenaQueryError, runAthenaQuery } from '../../functions/adapters/athena-query.ts';

const iot = mockClient(IoTClient);
const athena = mockClient(AthenaClient);
afterAll(() => {
  iot.restore();
  athena.restore();
});

const names = { datasetId: 'air_quality', thingTypeName: 'datastroom-prod-air_quality', policyName: 'datastroom-prod-air_quality-device', ruleName: 'datastroom_prod_air_quality' };
const CERT_ARN = 'arn:aws:iot:eu-west-1:111122223333:cert/abc123';

/** IoT Core's answers while a detach is still in progress, as the SDK raises them. */
const thingStillAttached = () =>
  new InvalidRequestException({ message: 'Cannot delete. Thing aq-1 is still attached to one or more principals', $metadata: {} });
const certificateStillAttached = () =>
  new DeleteConflictException({ message: `Things must be detached before deletion (arn: ${CERT_ARN})`, $metadata: {} });

/** A sleep that only records what it was asked to wait. */
function recordedSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

/** The names of the IoT commands sent, in order. */
const sent = () => iot.calls().map((c) => c.args[0].constructor.name.replace(/Command$/, ''));

function happyIot() {
  iot.reset();
  iot.on(DescribeThingCommand).rejects(new ResourceNotFoundException({ message: 'Thing aq-1 cannot be found', $metadata: {} }));
  iot.on(CreateThingCommand).resolves({ thingName: 'aq-1', thingArn: 'arn:aws:iot:eu-west-1:111122223333:thing/aq-1' });
  iot.on(CreateKeysAndCertificateCommand).resolves({ certificateArn: CERT_ARN, certificateId: 'abc123', certificatePem: 'PEM', keyPair: { PrivateKey: 'KEY', PublicKey: 'PUB' } });
  iot.on(CreateCertificateFromCsrCommand).resolves({ certificateArn: CERT_ARN, certificateId: 'abc123', certificatePem: 'PEM-FROM-CSR' });
  iot.on(AttachPolicyCommand).resolves({});
  iot.on(AttachThingPrincipalCommand).resolves({});
  iot.on(DescribeEndpointCommand).resolves({ endpointAddress: 'abc-ats.iot.eu-west-1.amazonaws.com' });
}

describe('registering a sensor on IoT Core', () => {
  beforeEach(happyIot);

  it('creates the thing in its type, a certificate, attaches policy and thing, and finds the ATS endpoint', async () => {
    const device = await registerDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1');
    expect(device).toMatchObject({
      thingName: 'aq-1',
      certificateArn: CERT_ARN,
      certificatePem: 'PEM',
      privateKey: 'KEY',
      endpoint: 'abc-ats.iot.eu-west-1.amazonaws.com',
      topic: '$aws/rules/datastroom_prod_air_quality/datastroom/air_quality/aq-1',
      brokerTopic: 'datastroom/air_quality/aq-1',
    });
    expect(iot.commandCalls(CreateThingCommand)[0]!.args[0].input).toEqual({
      thingName: 'aq-1',
      thingTypeName: 'datastroom-prod-air_quality',
      attributePayload: { attributes: { dataset: 'air_quality' } },
    });
    expect(iot.commandCalls(CreateKeysAndCertificateCommand)[0]!.args[0].input).toEqual({ setAsActive: true });
    expect(iot.commandCalls(AttachPolicyCommand)[0]!.args[0].input).toEqual({ policyName: 'datastroom-prod-air_quality-device', target: CERT_ARN });
    expect(iot.commandCalls(AttachThingPrincipalCommand)[0]!.args[0].input).toEqual({ thingName: 'aq-1', principal: CERT_ARN });
    expect(iot.commandCalls(DescribeEndpointCommand)[0]!.args[0].input).toEqual({ endpointType: 'iot:Data-ATS' });
  });

  it('signs a device-supplied CSR instead of creating keys', async () => {
    const device = await registerDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1', { csr: 'CSR' });
    expect(iot.commandCalls(CreateCertificateFromCsrCommand)[0]!.args[0].input).toEqual({ certificateSigningRequest: 'CSR', setAsActive: true });
    expect(iot.commandCalls(CreateKeysAndCertificateCommand)).toHaveLength(0);
    expect(device.privateKey).toBeUndefined();
  });

  it('leaves no orphan certificate or thing when a later step fails', async () => {
    iot.on(AttachThingPrincipalCommand).rejects(new Error('ResourceNotFoundException: thing vanished'));
    iot.on(DetachPolicyCommand).resolves({});
    iot.on(UpdateCertificateCommand).resolves({});
    iot.on(DeleteCertificateCommand).resolves({});
    iot.on(DeleteThingCommand).resolves({});
    await expect(registerDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1')).rejects.toThrow(
      /registration failed at AttachThingPrincipal: ResourceNotFoundException: thing vanished \(removed again: certificate abc123, thing aq-1\)$/,
    );
    expect(iot.commandCalls(DetachPolicyCommand)[0]!.args[0].input).toEqual({ policyName: names.policyName, target: CERT_ARN });
    expect(iot.commandCalls(UpdateCertificateCommand)[0]!.args[0].input).toEqual({ certificateId: 'abc123', newStatus: 'INACTIVE' });
    expect(iot.commandCalls(DeleteCertificateCommand)[0]!.args[0].input).toEqual({ certificateId: 'abc123', forceDelete: true });
    expect(iot.commandCalls(DeleteThingCommand)[0]!.args[0].input).toEqual({ thingName: 'aq-1' });
    expect(iot.commandCalls(DescribeEndpointCommand)).toHaveLength(0);
  });

  it('waits for IoT Core to finish detaching before it deletes the certificate and the thing it created', async () => {
    iot.on(DescribeEndpointCommand).rejects(new UnauthorizedException({ message: 'not allowed to describe the endpoint', $metadata: {} }));
    iot.on(DetachThingPrincipalCommand).resolves({});
    // The detach is asynchronous: the thing lists the certificate once more, each delete is refused once.
    iot.on(ListThingPrincipalsCommand).resolvesOnce({ principals: [CERT_ARN] }).resolves({ principals: [] });
    iot.on(DetachPolicyCommand).resolves({});
    iot.on(UpdateCertificateCommand).resolves({});
    iot.on(DeleteCertificateCommand).rejectsOnce(certificateStillAttached()).resolves({});
    iot.on(DeleteThingCommand).rejectsOnce(thingStillAttached()).resolves({});
    const { waits, sleep } = recordedSleep();
    await expect(registerDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1', { sleep })).rejects.toThrow(
      /registration failed at DescribeEndpoint: not allowed to describe the endpoint \(removed again: certificate abc123, thing aq-1\)$/,
    );
    expect(sent()).toEqual([
      'DescribeThing',
      'CreateThing',
      'CreateKeysAndCertificate',
      'AttachPolicy',
      'AttachThingPrincipal',
      'DescribeEndpoint',
      'DetachThingPrincipal',
      'ListThingPrincipals',
      'ListThingPrincipals',
      'DetachPolicy',
      'UpdateCertificate',
      'DeleteCertificate',
      'DeleteCertificate',
      'DeleteThing',
      'DeleteThing',
    ]);
    expect(waits).toEqual([250, 500, 1000]);
  });

  it('says what it could not remove when the detach outlasts the wait', async () => {
    iot.on(DescribeEndpointCommand).rejects(new UnauthorizedException({ message: 'not allowed', $metadata: {} }));
    iot.on(DetachThingPrincipalCommand).resolves({});
    iot.on(ListThingPrincipalsCommand).resolves({ principals: [CERT_ARN] });
    iot.on(DetachPolicyCommand).resolves({});
    iot.on(UpdateCertificateCommand).resolves({});
    iot.on(DeleteCertificateCommand).rejects(certificateStillAttached());
    iot.on(DeleteThingCommand).rejects(thingStillAttached());
    const { waits, sleep } = recordedSleep();
    await expect(registerDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1', { sleep, maxWaitMs: 1000 })).rejects.toThrow(
      /at DescribeEndpoint: not allowed \(not removed: IoT Core still reports thing aq-1 and certificate abc123 attached after waiting 1\.0 s .*; IoT Core still reports certificate abc123 and thing aq-1 attached .*; IoT Core still reports thing aq-1 and a certificate attached .*try again in a minute\)$/,
    );
    // The whole clean-up shares one bounded wait.
    expect(waits.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it('keeps a thing that existed before the registration', async () => {
    iot.on(DescribeThingCommand).resolves({ thingName: 'aq-1', thingTypeName: names.thingTypeName });
    iot.on(AttachPolicyCommand).rejects(new Error('ResourceNotFoundException: policy missing'));
    iot.on(UpdateCertificateCommand).resolves({});
    iot.on(DeleteCertificateCommand).resolves({});
    await expect(registerDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1')).rejects.toThrow(/at AttachPolicy: .* \(removed again: certificate abc123\)$/);
    expect(iot.commandCalls(DeleteThingCommand)).toHaveLength(0);
  });

  it('creates no certificate when the thing cannot be created', async () => {
    iot.on(CreateThingCommand).rejects(new Error('ResourceAlreadyExistsException: thing aq-1 has another type'));
    await expect(registerDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1')).rejects.toThrow(/at CreateThing: ResourceAlreadyExistsException/);
    expect(iot.commandCalls(CreateKeysAndCertificateCommand)).toHaveLength(0);
  });
});

describe('listing and revoking sensors', () => {
  beforeEach(() => iot.reset());

  it('lists the things of the dataset’s type across pages', async () => {
    iot.on(ListThingsCommand, { thingTypeName: names.thingTypeName, nextToken: undefined, maxResults: 250 }).resolves({ things: [{ thingName: 'a', thingArn: 'arn:a' }], nextToken: 't2' });
    iot.on(ListThingsCommand, { thingTypeName: names.thingTypeName, nextToken: 't2', maxResults: 250 }).resolves({ things: [{ thingName: 'b', thingArn: 'arn:b' }] });
    expect(await listDevices(new IoTClient({ region: 'eu-west-1' }), names)).toEqual([
      { thingName: 'a', thingArn: 'arn:a' },
      { thingName: 'b', thingArn: 'arn:b' },
    ]);
  });

  const detaching = () => {
    iot.on(DetachThingPrincipalCommand).resolves({});
    iot.on(DetachPolicyCommand).resolves({});
    iot.on(UpdateCertificateCommand).resolves({});
  };

  it('detaches and deactivates every certificate, then deletes the thing', async () => {
    iot
      .on(ListThingPrincipalsCommand, { thingName: 'aq-1', nextToken: undefined })
      .resolvesOnce({ principals: [CERT_ARN], nextToken: 'p2' })
      .resolves({ principals: [] });
    iot.on(ListThingPrincipalsCommand, { thingName: 'aq-1', nextToken: 'p2' }).resolves({ principals: ['arn:aws:iot:eu-west-1:111122223333:cert/def456'] });
    detaching();
    iot.on(DeleteThingCommand).resolves({});
    const { waits, sleep } = recordedSleep();
    expect(await revokeDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1', { sleep })).toEqual(['abc123', 'def456']);
    expect(waits).toEqual([]);
    expect(iot.commandCalls(UpdateCertificateCommand).map((c) => c.args[0].input)).toEqual([
      { certificateId: 'abc123', newStatus: 'INACTIVE' },
      { certificateId: 'def456', newStatus: 'INACTIVE' },
    ]);
    expect(iot.commandCalls(DetachThingPrincipalCommand)).toHaveLength(2);
    expect(iot.commandCalls(DeleteThingCommand)[0]!.args[0].input).toEqual({ thingName: 'aq-1' });
  });

  it('waits until IoT Core no longer lists the certificate, and deletes the thing again while it is refused as still attached', async () => {
    // The detach is asynchronous: the certificate is listed once more after it, and the first delete is refused.
    iot.on(ListThingPrincipalsCommand).resolvesOnce({ principals: [CERT_ARN] }).resolvesOnce({ principals: [CERT_ARN] }).resolves({ principals: [] });
    detaching();
    iot.on(DeleteThingCommand).rejectsOnce(thingStillAttached()).resolves({});
    const { waits, sleep } = recordedSleep();
    expect(await revokeDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1', { sleep })).toEqual(['abc123']);
    expect(sent()).toEqual([
      'ListThingPrincipals',
      'DetachThingPrincipal',
      'DetachPolicy',
      'UpdateCertificate',
      'ListThingPrincipals',
      'ListThingPrincipals',
      'DeleteThing',
      'DeleteThing',
    ]);
    expect(waits).toEqual([250, 500]);
  });

  it('gives up after a bounded wait, naming the thing and certificate still attached', async () => {
    iot.on(ListThingPrincipalsCommand).resolves({ principals: [CERT_ARN] });
    detaching();
    const { waits, sleep } = recordedSleep();
    const revoke = revokeDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1', { sleep, maxWaitMs: 2000 });
    await expect(revoke).rejects.toThrow(DeviceStillAttached);
    await expect(revoke).rejects.toThrow(/IoT Core still reports thing aq-1 and certificate abc123 attached after waiting 2\.0 s .*try again in a minute/);
    expect(waits).toEqual([250, 500, 1000, 250]);
    expect(iot.commandCalls(DeleteThingCommand)).toHaveLength(0);
  });

  it('deletes the thing again only while it is refused as still attached', async () => {
    iot.on(ListThingPrincipalsCommand).resolvesOnce({ principals: [CERT_ARN] }).resolves({ principals: [] });
    detaching();
    iot.on(DeleteThingCommand).rejects(new UnauthorizedException({ message: 'not allowed to delete things', $metadata: {} }));
    const { waits, sleep } = recordedSleep();
    await expect(revokeDevice(new IoTClient({ region: 'eu-west-1' }), names, 'aq-1', { sleep })).rejects.toThrow(/not allowed to delete things/);
    expect(iot.commandCalls(DeleteThingCommand)).toHaveLength(1);
    expect(waits).toEqual([]);
  });
});

describe('querying on Athena', () => {
  const states = (...sequence: QueryExecutionState[]) => {
    const chain = athena.on(GetQueryExecutionCommand);
    let c = chain;
    for (const s of sequence) c = c.resolvesOnce({ QueryExecution: { Status: { State: s }, Statistics: { DataScannedInBytes: 5 * 1024 ** 3 } } });
  };
  const run = (extra: Partial<Parameters<typeof runAthenaQuery>[1]> = {}) =>
    runAthenaQuery(new AthenaClient({ region: 'eu-west-1' }), { sql: 'SELECT 1', workgroup: 'wg', database: 'db', sleep: async () => undefined, ...extra });

  beforeEach(() => {
    athena.reset();
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
  });

  it('starts in the workgroup with values as execution parameters, polls through the states, pages through the results', async () => {
    states('QUEUED', 'RUNNING', 'SUCCEEDED');
    const columns = [{ Name: 'sensor_id', Label: 'sensor_id', Type: 'varchar' }, { Name: 'n', Label: 'n', Type: 'bigint' }, { Name: 'avg', Label: 'avg', Type: 'double' }];
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'q-1', NextToken: undefined, MaxResults: 1000 }).resolves({
      ResultSet: {
        ResultSetMetadata: { ColumnInfo: columns },
        Rows: [{ Data: [{ VarCharValue: 'sensor_id' }, { VarCharValue: 'n' }, { VarCharValue: 'avg' }] }, { Data: [{ VarCharValue: 'aq-1' }, { VarCharValue: '3' }, { VarCharValue: '12.5' }] }],
      },
      NextToken: 'page-2',
    });
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'q-1', NextToken: 'page-2', MaxResults: 1000 }).resolves({
      ResultSet: { ResultSetMetadata: { ColumnInfo: columns }, Rows: [{ Data: [{ VarCharValue: 'aq-2' }, {}, { VarCharValue: '7' }] }] },
    });
    const seen: string[] = [];
    const result = await run({ sql: 'SELECT ... WHERE dt = ?', parameters: ["'2026-11-29'"], onState: (s) => seen.push(s) });
    expect(athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input).toEqual({
      QueryString: 'SELECT ... WHERE dt = ?',
      WorkGroup: 'wg',
      QueryExecutionContext: { Database: 'db', Catalog: 'AwsDataCatalog' },
      ExecutionParameters: ["'2026-11-29'"],
    });
    expect(seen).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
    expect(result.columns).toEqual(['sensor_id', 'n', 'avg']);
    expect(result.rows).toEqual([
      ['aq-1', 3, 12.5],
      ['aq-2', null, 7],
    ]);
    expect(result.scannedBytes).toBe(5 * 1024 ** 3);
    expect(result.costUsd).toBeCloseTo((5 / 1024) * 5, 10);
  });

  it('fails with Athena’s own reason', async () => {
    athena.on(GetQueryExecutionCommand).resolves({
      QueryExecution: { Status: { State: 'FAILED', StateChangeReason: 'x', AthenaError: { ErrorMessage: "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.db.nope' does not exist" } } },
    });
    await expect(run()).rejects.toThrow(/Athena query q-1 failed: TABLE_NOT_FOUND: .*nope' does not exist/);
  });

  it('reports a query cancelled on Athena', async () => {
    states('RUNNING', 'CANCELLED');
    await expect(run()).rejects.toThrow(AthenaQueryError);
  });

  it('stops the query on Athena when the caller aborts', async () => {
    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'RUNNING' } } });
    athena.on(StopQueryExecutionCommand).resolves({});
    const controller = new AbortController();
    let polls = 0;
    const result = run({ signal: controller.signal, sleep: async () => void (++polls === 2 && controller.abort()) });
    await expect(result).rejects.toThrow(/cancelled: stopped by the user/);
    expect(athena.commandCalls(StopQueryExecutionCommand)[0]!.args[0].input).toEqual({ QueryExecutionId: 'q-1' });
  });

  it('bills at least 10 MB a query, at $5 per TB', () => {
    expect(athenaCost(0)).toBeCloseTo((10 / 1024 / 1024) * 5, 12);
    expect(athenaCost(1024 ** 4)).toBe(5);
  });
});
