import { createServer, type Server } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { topicFor } from '../functions/core/envelope.ts';
import type { Device, DeviceRegistry } from './devices.ts';
import type { Ingest } from './ingest.ts';

/** The embedded broker and its TCP listener. */
export interface EmbeddedBroker {
  readonly aedes: Aedes;
  /** The port it listens on (the one asked for, or the one the OS chose for 0). */
  readonly port: number;
  /** Disconnects every client and stops listening. */
  close(): Promise<void>;
}

export interface BrokerOptions {
  /** @default 1883 */
  readonly port?: number;
  /** @default '127.0.0.1' - only this machine; '0.0.0.0' lets sensors on the network in */
  readonly host?: string;
  readonly ingest: Ingest;
  /**
   * Registered devices. Once one is registered, only registered devices may
   * connect (client id = sensor id, password checked) and each may publish only
   * to its own topic, as the IoT device policy allows.
   * @default - no authentication
   */
  readonly devices?: DeviceRegistry;
  /** Where refused connections and publishes are reported. @default - nowhere */
  readonly log?: (line: string) => void;
}

/** MQTT 3.1.1 CONNACK return codes the broker refuses with. */
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;

function refusal(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** The broker could not listen: the port is taken or not allowed. */
export class BrokerListenError extends Error {
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    const hint = cause.code === 'EADDRINUSE' ? ' (another MQTT broker is running there? choose one with --port)' : '';
    super(`cannot listen on ${host}:${port}: ${cause.code ?? cause.message}${hint}`);
    this.name = 'BrokerListenError';
  }
}

/**
 * Starts an in-process MQTT broker (aedes) wired to the ingest. Every publish
 * on a Datastroom topic is handed to the ingest inside authorizePublish:
 * aedes sends a QoS 1 PUBACK before it delivers to any subscriber, so this is
 * the only point where the broker still waits, and the message is on disk
 * before the sensor hears it arrived (IoT Core's rules engine sits just as
 * close to its broker).
 */
export async function startBroker(options: BrokerOptions): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const aedes = await Aedes.createBroker();
  const log = options.log ?? (() => undefined);
  const registry = options.devices;
  const connected = new WeakMap<Client, Device>();
  aedes.authenticate = (client, username, password, callback) => {
    if (!registry?.enforcing) return callback(null, true);
    const device = registry.verify(username, password);
    if (!device) {
      log(`refused client ${JSON.stringify(client.id)}: unknown device or wrong password`);
      return callback(refusal('bad username or password', BAD_USERNAME_OR_PASSWORD), null);
    }
    if (client.id !== device.sensorId) {
      log(`refused client ${JSON.stringify(client.id)}: a device connects with its sensor id (${device.sensorId}) as client id`);
      return callback(refusal('client id must be the sensor id', IDENTIFIER_REJECTED), null);
    }
    connected.set(client, device);
    callback(null, true);
  };
  // Devices publish; like the IoT device policy, it grants them no subscriptions.
  aedes.authorizeSubscribe = (client, subscription, callback) => {
    callback(null, registry?.enforcing && connected.has(client) ? null : subscription);
  };
  aedes.authorizePublish = (client, packet, callback) => {
    if (packet.topic.startsWith('$SYS')) {
      callback(new Error('$SYS topics are reserved'));
      return;
    }
    if (registry?.enforcing) {
      const device = client ? connected.get(client) : undefined;
      const own = device ? topicFor(device.datasetId, device.sensorId) : undefined;
      if (packet.topic !== own) {
        log(`refused publish by ${JSON.stringify(client?.id)} to ${packet.topic}: a device publishes only to ${own ?? 'its own topic'}`);
        callback(new Error(`not authorized to publish to ${packet.topic}`));
        return;
      }
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
    const durable = options.ingest.accept(packet.topic, payload);
    if (!durable) {
      callback(null);
      return;
    }
    // Without a PUBACK the client resends, so a failed write is retried, never lost.
    durable.then(
      () => callback(null),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  };
  const server: Server = createServer(aedes.handle);
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      aedes.close();
      reject(new BrokerListenError(host, options.port ?? 1883, error));
    });
    server.listen(options.port ?? 1883, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : (options.port ?? 1883));
    });
  });
  return {
    aedes,
    port,
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
