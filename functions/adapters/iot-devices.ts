/**
 * Sensors as IoT Core things: register (thing, certificate, policy), list and
 * revoke. A thin adapter over the IoT client; every step is one command.
 * Detaching a thing's principal is asynchronous on IoT Core: a thing or
 * certificate deleted right after it is refused as still attached, so each
 * delete that follows a detach waits for it, with a bounded backoff.
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
  DescribeThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  ListThingPrincipalsCommand,
  ListThingsCommand,
  UpdateCertificateCommand,
  type IoTClient,
} from '@aws-sdk/client-iot';
import { basicIngestTopicFor, topicFor } from '../core/envelope.ts';

/** The IoT names of one dataset in one deployed environment. */
export interface DatasetIotNames {
  readonly datasetId: string;
  readonly thingTypeName: string;
  readonly policyName: string;
  /** The dataset's topic rule, which its devices publish to directly by Basic Ingest. */
  readonly ruleName: string;
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
  /** The topic to publish on: Basic Ingest to the dataset's rule, without IoT Core's messaging charge. */
  readonly topic: string;
  /** The same through the message broker, which its device policy allows too (charged per message). */
  readonly brokerTopic: string;
}

/** A registration that failed; what it had created is removed again. */
export class DeviceRegistrationFailed extends Error {
  constructor(step: string, cause: unknown, cleanup: string[], leftBehind: string[] = []) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `registration failed at ${step}: ${reason}` +
        (cleanup.length ? ` (removed again: ${cleanup.join(', ')})` : '') +
        (leftBehind.length ? ` (not removed: ${leftBehind.join('; ')})` : ''),
    );
    this.name = 'DeviceRegistrationFailed';
  }
}

/** An attachment IoT Core still reports when the wait for its asynchronous detach ran out. */
export class DeviceStillAttached extends Error {
  constructor(attachment: string, waitedMs: number) {
    super(
      `IoT Core still reports ${attachment} attached after waiting ${(waitedMs / 1000).toFixed(1)} s for the asynchronous detach: ` +
        'the detach completes on its own; try again in a minute',
    );
    this.name = 'DeviceStillAttached';
  }
}

/** How long to wait for IoT Core's asynchronous detach, and with what. */
export interface DetachWaitOptions {
  /** Waits between checks. @default - a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** The longest total wait of one register or revoke, in milliseconds. @default DETACH_WAIT.maxWaitMs */
  readonly maxWaitMs?: number;
}

/** The backoff while a detach completes: the first pause doubles up to the longest, within the total. */
export const DETACH_WAIT = Object.freeze({ firstDelayMs: 250, maxDelayMs: 5_000, maxWaitMs: 60_000 });

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One operation's waits, bounded in total however many deletes share them. */
class DetachWait {
  private waited = 0;
  private delay: number = DETACH_WAIT.firstDelayMs;

  constructor(private readonly options: DetachWaitOptions) {}

  get waitedMs(): number {
    return this.waited;
  }

  /** Pauses before the next check; false once the total wait is used up. */
  async pause(): Promise<boolean> {
    const ms = Math.min(this.delay, (this.options.maxWaitMs ?? DETACH_WAIT.maxWaitMs) - this.waited);
    if (ms <= 0) return false;
    await (this.options.sleep ?? timer)(ms);
    this.waited += ms;
    this.delay = Math.min(this.delay * 2, DETACH_WAIT.maxDelayMs);
    return true;
  }
}

/**
 * IoT Core's answers while a detach is still in progress: DeleteThing's
 * "Cannot delete. Thing ... is still attached to one or more principals" and
 * DeleteCertificate's "Things must be detached before deletion".
 */
function isStillAttached(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (error.name === 'InvalidRequestException' && /still attached/i.test(error.message)) || error.name === 'DeleteConflictException';
}

/** The principals (certificate ARNs) attached to a thing, across every page. */
async function thingPrincipals(iot: IoTClient, thingName: string): Promise<string[]> {
  const principals: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await iot.send(new ListThingPrincipalsCommand({ thingName, nextToken }));
    principals.push(...(page.principals ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return principals;
}

/** Waits until the thing no longer lists any of the detached principals. */
async function untilDetached(iot: IoTClient, thingName: string, detached: readonly string[], wait: DetachWait): Promise<void> {
  if (detached.length === 0) return;
  for (;;) {
    const listed = new Set(await thingPrincipals(iot, thingName));
    const still = detached.filter((p) => listed.has(p));
    if (still.length === 0) return;
    if (!(await wait.pause())) throw new DeviceStillAttached(`thing ${thingName} and certificate ${still.map(certificateIdOf).join(', ')}`, wait.waitedMs);
  }
}

/** Deletes, and deletes again after a pause for as long as IoT Core answers that the detach is not done. */
async function deleteWhenDetached(remove: () => Promise<unknown>, wait: DetachWait, stillAttached: () => Error): Promise<void> {
  for (;;) {
    try {
      await remove();
      return;
    } catch (error) {
      if (!isStillAttached(error)) throw error;
      if (!(await wait.pause())) throw stillAttached();
    }
  }
}

const CERTIFICATE_ARN = /:cert\/([0-9a-f]+)$/;

/** The certificate id in a certificate ARN; another principal (a Cognito identity) as it is. */
function certificateIdOf(principal: string): string {
  return CERTIFICATE_ARN.exec(principal)?.[1] ?? principal;
}

/** Whether a thing exists: registering an existing one must not delete it on failure. */
async function thingExists(iot: IoTClient, thingName: string): Promise<boolean> {
  try {
    await iot.send(new DescribeThingCommand({ thingName }));
    return true;
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceNotFoundException') return false;
    throw error;
  }
}

/**
 * Registers a sensor: the thing in its dataset's type (with its place as
 * attributes, when given), a certificate (new
 * keys, or signed from the device's CSR), the dataset's device policy and the
 * thing attached to it, and the data endpoint. If a step fails, the
 * certificate is detached, deactivated and deleted once IoT Core has finished
 * detaching it, and a thing this call created is deleted, so no orphan is left.
 */
export async function registerDevice(
  iot: IoTClient,
  names: DatasetIotNames,
  sensorId: string,
  options: { csr?: string; attributes?: Readonly<Record<string, string>> } & DetachWaitOptions = {},
): Promise<RegisteredDevice> {
  const cleanup: (() => Promise<unknown>)[] = [];
  const removed: string[] = [];
  const wait = new DetachWait(options);
  let step = 'DescribeThing';
  try {
    const existed = await thingExists(iot, sensorId);
    step = 'CreateThing';
    const thing = await iot.send(
      new CreateThingCommand({ thingName: sensorId, thingTypeName: names.thingTypeName, attributePayload: { attributes: { ...options.attributes, dataset: names.datasetId } } }),
    );
    const thingName = thing.thingName ?? sensorId;
    const thingArn = thing.thingArn ?? '';
    if (!existed) {
      cleanup.push(async () => {
        await deleteWhenDetached(
          () => iot.send(new DeleteThingCommand({ thingName })),
          wait,
          () => new DeviceStillAttached(`thing ${thingName} and a certificate`, wait.waitedMs),
        );
        removed.push(`thing ${thingName}`);
      });
    }

    step = options.csr ? 'CreateCertificateFromCsr' : 'CreateKeysAndCertificate';
    const certificate: { certificateArn?: string; certificateId?: string; certificatePem?: string; keyPair?: { PrivateKey?: string } } =
      options.csr
        ? await iot.send(new CreateCertificateFromCsrCommand({ certificateSigningRequest: options.csr, setAsActive: true }))
        : await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    const certificateArn = certificate.certificateArn ?? '';
    const certificateId = certificate.certificateId ?? '';
    cleanup.push(async () => {
      await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }));
      // forceDelete covers the policy; a thing attachment still refuses the delete until its detach completes.
      await deleteWhenDetached(
        () => iot.send(new DeleteCertificateCommand({ certificateId, forceDelete: true })),
        wait,
        () => new DeviceStillAttached(`certificate ${certificateId} and thing ${thingName}`, wait.waitedMs),
      );
      removed.push(`certificate ${certificateId}`);
    });

    step = 'AttachPolicy';
    await iot.send(new AttachPolicyCommand({ policyName: names.policyName, target: certificateArn }));
    cleanup.push(() => iot.send(new DetachPolicyCommand({ policyName: names.policyName, target: certificateArn })));

    step = 'AttachThingPrincipal';
    await iot.send(new AttachThingPrincipalCommand({ thingName, principal: certificateArn }));
    cleanup.push(async () => {
      await iot.send(new DetachThingPrincipalCommand({ thingName, principal: certificateArn }));
      await untilDetached(iot, thingName, [certificateArn], wait);
    });

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
      topic: basicIngestTopicFor(names.ruleName, names.datasetId, thingName),
      brokerTopic: topicFor(names.datasetId, thingName),
    };
  } catch (error) {
    // Undo in reverse: detach before deactivating and deleting the certificate, and the thing last.
    const leftBehind: string[] = [];
    for (const undo of cleanup.reverse()) {
      await undo().catch((failure: unknown) => void leftBehind.push(failure instanceof Error ? failure.message : String(failure)));
    }
    throw new DeviceRegistrationFailed(step, error, removed, leftBehind);
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
 * the policy and deactivated (kept, for the audit trail); once IoT Core no
 * longer lists them on the thing, the thing is deleted. Returns the
 * certificate ids it deactivated.
 */
export async function revokeDevice(iot: IoTClient, names: DatasetIotNames, sensorId: string, options: DetachWaitOptions = {}): Promise<string[]> {
  const wait = new DetachWait(options);
  const principals = await thingPrincipals(iot, sensorId);
  const deactivated: string[] = [];
  for (const principal of principals) {
    await iot.send(new DetachThingPrincipalCommand({ thingName: sensorId, principal }));
    if (!CERTIFICATE_ARN.test(principal)) continue;
    const certificateId = certificateIdOf(principal);
    await iot.send(new DetachPolicyCommand({ policyName: names.policyName, target: principal }));
    await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }));
    deactivated.push(certificateId);
  }
  await untilDetached(iot, sensorId, principals, wait);
  await deleteWhenDetached(
    () => iot.send(new DeleteThingCommand({ thingName: sensorId })),
    wait,
    () => new DeviceStillAttached(`thing ${sensorId} and a certificate`, wait.waitedMs),
  );
  return deactivated;
}
