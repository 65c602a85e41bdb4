/**
 * Sensors as IoT Core things: register (thing, certificate, policy), list and
 * revoke. A thin adapter over the IoT client; every step is one command.
 */
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteThingCommand,
  DescribeEndpointCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  ListThingPrincipalsCommand,
  ListThingsCommand,
  UpdateCertificateCommand,
  type IoTClient,
} from '@aws-sdk/client-iot';

/** The IoT names of one dataset in one deployed environment. */
export interface DatasetIotNames {
  readonly datasetId: string;
  readonly thingTypeName: string;
  readonly policyName: string;
}

/** What a registered device needs to publish. */
export interface RegisteredDevice {
  readonly thingName: string;
  readonly thingArn: string;
  readonly certificateArn: string;
  readonly certificateId: string;
  readonly certificatePem: string;
  /** Absent when the device supplied a CSR: its key never left it. */
  readonly privateKey?: string;
  /** The account's ATS data endpoint, e.g. abc123-ats.iot.eu-west-1.amazonaws.com. */
  readonly endpoint: string;
}

/** A registration that failed; what it had created is removed again. */
export class DeviceRegistrationFailed extends Error {
  constructor(step: string, cause: unknown, cleanup: string[]) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`registration failed at ${step}: ${reason}${cleanup.length ? ` (removed again: ${cleanup.join(', ')})` : ''}`);
    this.name = 'DeviceRegistrationFailed';
  }
}

/**
 * Registers a sensor: the thing in its dataset's type, a certificate (new
 * keys, or signed from the device's CSR), the dataset's device policy and the
 * thing attached to it, and the data endpoint. If a step fails, the
 * certificate is detached, deactivated and deleted, and a thing this call
 * created is deleted, so no orphan is left.
 */
export async function registerDevice(
  iot: IoTClient,
  names: DatasetIotNames,
  sensorId: string,
  options: { csr?: string } = {},
): Promise<RegisteredDevice> {
  const cleanup: (() => Promise<unknown>)[] = [];
  const removed: string[] = [];
  let step = 'CreateThing';
  try {
    const thing = await iot.send(
      new CreateThingCommand({ thingName: sensorId, thingTypeName: names.thingTypeName, attributePayload: { attributes: { dataset: names.datasetId } } }),
    );
    const thingName = thing.thingName ?? sensorId;
    const thingArn = thing.thingArn ?? '';

    step = options.csr ? 'CreateCertificateFromCsr' : 'CreateKeysAndCertificate';
    const certificate: { certificateArn?: string; certificateId?: string; certificatePem?: string; keyPair?: { PrivateKey?: string } } =
      options.csr
        ? await iot.send(new CreateCertificateFromCsrCommand({ certificateSigningRequest: options.csr, setAsActive: true }))
        : await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    const certificateArn = certificate.certificateArn ?? '';
    const certificateId = certificate.certificateId ?? '';
    cleanup.push(async () => {
      await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }));
      await iot.send(new DeleteCertificateCommand({ certificateId, forceDelete: true }));
      removed.push(`certificate ${certificateId}`);
    });

    step = 'AttachPolicy';
    await iot.send(new AttachPolicyCommand({ policyName: names.policyName, target: certificateArn }));
    cleanup.push(() => iot.send(new DetachPolicyCommand({ policyName: names.policyName, target: certificateArn })));

    step = 'AttachThingPrincipal';
    await iot.send(new AttachThingPrincipalCommand({ thingName, principal: certificateArn }));
    cleanup.push(() => iot.send(new DetachThingPrincipalCommand({ thingName, principal: certificateArn })));

    step = 'DescribeEndpoint';
    const endpoint = await iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }));
    return {
      thingName,
      thingArn,
      certificateArn,
      certificateId,
      certificatePem: certificate.certificatePem ?? '',
      privateKey: certificate.keyPair?.PrivateKey,
      endpoint: endpoint.endpointAddress ?? '',
    };
  } catch (error) {
    // Undo in reverse: detach before deactivating and deleting the certificate.
    for (const undo of cleanup.reverse()) {
      await undo().catch(() => undefined);
    }
    throw new DeviceRegistrationFailed(step, error, removed);
  }
}

/** The sensors of a dataset: the things of its type, across every page. */
export async function listDevices(iot: IoTClient, names: DatasetIotNames): Promise<{ thingName: string; thingArn: string }[]> {
  const things: { thingName: string; thingArn: string }[] = [];
  let nextToken: string | undefined;
  do {
    const page = await iot.send(new ListThingsCommand({ thingTypeName: names.thingTypeName, nextToken, maxResults: 250 }));
    for (const t of page.things ?? []) things.push({ thingName: t.thingName ?? '', thingArn: t.thingArn ?? '' });
    nextToken = page.nextToken;
  } while (nextToken);
  return things;
}

/**
 * Revokes a sensor: each of its certificates is detached from the thing and
 * the policy and deactivated (kept, for the audit trail), then the thing is
 * deleted. Returns the certificate ids it deactivated.
 */
export async function revokeDevice(iot: IoTClient, names: DatasetIotNames, sensorId: string): Promise<string[]> {
  const principals: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await iot.send(new ListThingPrincipalsCommand({ thingName: sensorId, nextToken }));
    principals.push(...(page.principals ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const deactivated: string[] = [];
  for (const principal of principals) {
    await iot.send(new DetachThingPrincipalCommand({ thingName: sensorId, principal }));
    const certificateId = /:cert\/([0-9a-f]+)$/.exec(principal)?.[1];
    if (!certificateId) continue;
    await iot.send(new DetachPolicyCommand({ policyName: names.policyName, target: principal }));
    await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }));
    deactivated.push(certificateId);
  }
  await iot.send(new DeleteThingCommand({ thingName: sensorId }));
  return deactivated;
}
