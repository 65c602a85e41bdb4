import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { isDatasetRuleName, MAX_PAYLOAD_BYTES, splitBasicIngestTopic, topicFor } from '../functions/core/envelope.ts';
import { integrationTopicFor, isIntegrationRuleName } from '../functions/core/integrations.ts';
import { PasswordChecksBusyError, type Credential, type DeviceRegistry } from './devices.ts';
import type { Ingest } from './ingest.ts';

/** The embedded broker and its TCP listener. */
export interface EmbeddedBroker {
  readonly aedes: Aedes;
  /** The port it listens on (the one asked for, or the one the OS chose for 0). */
  readonly port: number;
  /** What connections that have not authenticated yet hold, and how many were closed over the limits. */
  unauthenticated(): UnauthenticatedStats;
  /** Disconnects every client and stops listening. */
  close(): Promise<void>;
}

/** Connections that have not authenticated yet (no CONNACK accepted them), now and at most. */
export interface UnauthenticatedStats {
  readonly connections: number;
  /** Bytes they sent: what the broker may hold of them (a partial CONNECT, packets after it). */
  readonly bytes: number;
  readonly peakConnections: number;
  readonly peakBytes: number;
  /** Connections closed because the limits were reached. */
  readonly closed: number;
}

/** What the broker accepts from a connection before and after it authenticates. */
export const BROKER_LIMITS = Object.freeze({
  /** A client that has not sent a whole CONNECT by then is dropped. */
  connectTimeoutMs: 5_000,
  /**
   * The largest MQTT packet, counted after its fixed header: a 128 KB payload
   * (IoT Core's limit) with the longest topic MQTT can carry and a packet id.
   * Checked as bytes arrive, before any packet is buffered whole.
   */
  maxPacketBytes: MAX_PAYLOAD_BYTES + 2 + 65_535 + 2,
  /**
   * Connections that have not authenticated yet, across the broker; a new
   * one beyond closes the oldest. Each is dropped after the connect timeout
   * anyway; this bounds how many an attacker can hold at once.
   */
  maxUnauthenticated: 256,
  /**
   * Bytes those connections may have sent, across the broker (a CONNECT can
   * be one packet of up to maxPacketBytes); beyond, the one that sent the
   * most is closed.
   */
  maxUnauthenticatedBytes: 64 * 1024 * 1024,
});

/** The limits of {@link BROKER_LIMITS}, each of which a broker may set otherwise. */
export type BrokerLimits = { -readonly [K in keyof typeof BROKER_LIMITS]: number };

/** How long a client waits after wrong credentials: doubling per failure, up to a ceiling. */
export const AUTH_BACKOFF = Object.freeze({ firstMs: 250, maxMs: 30_000, forgetAfterMs: 10 * 60_000, maxTracked: 10_000 });

export interface BrokerOptions {
  /** @default 1883 */
  readonly port?: number;
  /** @default '127.0.0.1' - only this machine; '0.0.0.0' lets sensors on the network in */
  readonly host?: string;
  readonly ingest: Ingest;
  /**
   * Registered devices and the authentication mode, followed as they change.
   * With authentication on, only devices with valid credentials may connect
   * (client id = username = sensor id), each may publish only to its own
   * topic, as the IoT device policy allows, and nobody may subscribe.
   * @default - no authentication
   */
  readonly devices?: DeviceRegistry;
  /** @default BROKER_LIMITS.connectTimeoutMs */
  readonly connectTimeoutMs?: number;
  /** @default BROKER_LIMITS.maxPacketBytes */
  readonly maxPacketBytes?: number;
  /** @default BROKER_LIMITS.maxUnauthenticated */
  readonly maxUnauthenticated?: number;
  /** @default BROKER_LIMITS.maxUnauthenticatedBytes */
  readonly maxUnauthenticatedBytes?: number;
  /** Where refused connections and publishes are reported. @default - nowhere */
  readonly log?: (line: string) => void;
}

/** MQTT 3.1.1 CONNACK return codes the broker refuses with. */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
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
 * Follows MQTT's framing over a connection's bytes without keeping any:
 * each packet is a type byte, a remaining length of one to four bytes, and
 * that many bytes. Tells a packet over the limit from its first bytes.
 */
export class PacketFrames {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Takes the next bytes; returns why the connection must close, or undefined. */
  feed(chunk: Buffer): string | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const skip = Math.min(this.remaining, chunk.length - i);
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) this.state = 'type';
      } else if (this.state === 'type') {
        i += 1;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else {
        const byte = chunk[i] as number;
        i += 1;
        this.length += (byte & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes += 1;
        if (byte & 0x80) {
          if (this.lengthBytes === 4) return 'a packet length longer than four bytes';
          continue;
        }
        if (this.length > this.maxPacketBytes) return `a packet of ${this.length} bytes, over the limit of ${this.maxPacketBytes}`;
        this.remaining = this.length;
        this.state = this.remaining > 0 ? 'body' : 'type';
      }
    }
    return undefined;
  }
}

/**
 * The connections that have not authenticated yet, and the bytes each sent
 * (what aedes may hold of them: a partial CONNECT, packets queued behind it).
 * Their number and their bytes are capped across the broker, so no number
 * of slow or unfinished CONNECTs can grow its memory: over the number, the
 * oldest is closed (an attacker holding connections open loses them first,
 * and a device that connects at once gets in); over the bytes, the one that
 * sent the most. The first closing is logged; the next ones only after no
 * connection waited any more.
 */
class Unauthenticated {
  private readonly waiting = new Map<Duplex, { socket: Socket; bytes: number }>();
  private bytes = 0;
  private reported = false;
  private peakConnections = 0;
  private peakBytes = 0;
  private closed = 0;

  constructor(
    private readonly maxConnections: number,
    private readonly maxBytes: number,
    private readonly log: (line: string) => void,
  ) {}

  /** A new connection: room is made for it by closing the oldest waiting ones. */
  add(socket: Socket): void {
    for (const oldest of this.waiting.values()) {
      if (this.waiting.size < this.maxConnections) break;
      this.close(oldest, `${this.waiting.size} connections were waiting to authenticate, the limit (the oldest is closed first)`);
    }
    this.waiting.set(socket, { socket, bytes: 0 });
    this.peakConnections = Math.max(this.peakConnections, this.waiting.size);
  }

  /** Bytes a connection sent; counted until it authenticated. */
  received(socket: Socket, bytes: number): void {
    const entry = this.waiting.get(socket);
    if (!entry) return;
    entry.bytes += bytes;
    this.bytes += bytes;
    while (this.bytes > this.maxBytes) {
      let largest: { socket: Socket; bytes: number } | undefined;
      for (const other of this.waiting.values()) if (!largest || other.bytes > largest.bytes) largest = other;
      if (!largest) break;
      this.close(largest, `connections waiting to authenticate had sent ${this.bytes} bytes, over the limit of ${this.maxBytes} (the one that sent most is closed first)`);
    }
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
  }

  /** The connection authenticated, or closed: it no longer counts. */
  done(conn: Duplex): void {
    const entry = this.waiting.get(conn);
    if (!entry) return;
    this.waiting.delete(conn);
    this.bytes -= entry.bytes;
    if (this.waiting.size === 0) this.reported = false;
  }

  private close(entry: { socket: Socket; bytes: number }, why: string): void {
    this.done(entry.socket);
    this.closed += 1;
    if (!this.reported) {
      this.reported = true;
      this.log(`closed connection from ${entry.socket.remoteAddress ?? 'unknown'} before it authenticated: ${why}; further ones are closed without a line until no connection waits`);
    }
    entry.socket.destroy();
  }

  stats(): UnauthenticatedStats {
    return { connections: this.waiting.size, bytes: this.bytes, peakConnections: this.peakConnections, peakBytes: this.peakBytes, closed: this.closed };
  }
}

/**
 * Failed logins per set of credentials (address, client id and password):
 * after each failure the same credentials wait twice as long before they
 * are checked again, and get one check at a time. Attempts in the wait, or
 * beside a check under way, are refused as a wrong password is, without a
 * check. Only the failing credentials back off: a device presenting its
 * right password is never kept out by another client failing with its
 * client id from the same address. What guessing may cost is bounded by the
 * password checks' queue (see PASSWORD_CHECKS), served in turn per address.
 */
export class AuthBackoff {
  private readonly failures = new Map<string, { count: number; until: number; last: number }>();
  private readonly checking = new Set<string>();

  /** Claims the client's one check; false if it must be refused without one. */
  begin(key: string, now = Date.now()): boolean {
    if (this.checking.has(key) || this.waiting(key, now)) return false;
    this.checking.add(key);
    return true;
  }

  end(key: string): void {
    this.checking.delete(key);
  }

  private waiting(key: string, now: number): boolean {
    const entry = this.failures.get(key);
    if (!entry) return false;
    if (now - entry.last > AUTH_BACKOFF.forgetAfterMs) {
      this.failures.delete(key);
      return false;
    }
    return now < entry.until;
  }

  failed(key: string, now = Date.now()): void {
    const count = (this.failures.get(key)?.count ?? 0) + 1;
    const wait = Math.min(AUTH_BACKOFF.firstMs * 2 ** (count - 1), AUTH_BACKOFF.maxMs);
    this.failures.delete(key);
    this.failures.set(key, { count, until: now + wait, last: now });
    // Oldest first: a flood of new client ids cannot grow the map without bound.
    for (const oldest of this.failures.keys()) {
      if (this.failures.size <= AUTH_BACKOFF.maxTracked) break;
      this.failures.delete(oldest);
    }
  }

  succeeded(key: string): void {
    this.failures.delete(key);
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
  const maxPacketBytes = options.maxPacketBytes ?? BROKER_LIMITS.maxPacketBytes;
  const aedes = await Aedes.createBroker({ connectTimeout: options.connectTimeoutMs ?? BROKER_LIMITS.connectTimeoutMs });
  const log = options.log ?? (() => undefined);
  const unauthenticated = new Unauthenticated(
    options.maxUnauthenticated ?? BROKER_LIMITS.maxUnauthenticated,
    options.maxUnauthenticatedBytes ?? BROKER_LIMITS.maxUnauthenticatedBytes,
    log,
  );
  const registry = options.devices;
  const enforcing = () => registry?.enforcing ?? false;
  const credentials = new WeakMap<Client, Credential>();
  const subscribers = new WeakSet<Client>();
  const live = new Set<Client>();
  const backoff = new AuthBackoff();
  // Backoff keys hold a digest of the password tried, never the password; the key lives as long as the process.
  const backoffSecret = randomBytes(32);
  const who = (client: Client | null) => JSON.stringify(client?.id ?? null);

  /** Why a connected client may no longer stay, or undefined if it may. */
  const unwelcome = (client: Client): string | undefined => {
    if (!registry || !enforcing()) return undefined;
    const credential = credentials.get(client);
    if (!credential) return 'authentication is on and it connected without a device’s credentials';
    if (!registry.allows(credential)) return `device ${credential.device.sensorId} was revoked or registered again`;
    if (subscribers.has(client)) return 'authentication is on and devices may not subscribe';
    return undefined;
  };
  const sweep = () => {
    for (const client of live) {
      if (client.closed) {
        live.delete(client);
        continue;
      }
      const why = unwelcome(client);
      if (why === undefined) continue;
      live.delete(client);
      log(`disconnected client ${who(client)}: ${why}`);
      client.close();
    }
  };
  const stopFollowing = registry?.onChange(sweep);
  aedes.on('clientReady', (client) => {
    unauthenticated.done(client.conn);
    // Re-judged here: the registry may have changed while its CONNECT was being checked.
    const why = unwelcome(client);
    if (why !== undefined) {
      log(`disconnected client ${who(client)}: ${why}`);
      client.close();
      return;
    }
    live.add(client);
  });
  aedes.on('clientDisconnect', (client) => live.delete(client));
  aedes.on('subscribe', (subscriptions, client) => {
    // aedes reports a refused subscription with the SUBACK failure code 128 as its qos.
    if (subscriptions.some((s) => Number(s.qos) !== 128)) subscribers.add(client);
  });

  const admit = async (client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthenticateError | null> => {
    if (!registry) return null;
    if (username === undefined || password === undefined) {
      if (!enforcing()) return null;
      log(`refused client ${who(client)}: no username and password`);
      return refusal('bad username or password', BAD_USERNAME_OR_PASSWORD);
    }
    if (client.id !== username) {
      if (!enforcing()) return null;
      log(`refused client ${who(client)}: a device connects with its sensor id as client id and username`);
      return refusal('client id must be the sensor id', IDENTIFIER_REJECTED);
    }
    // A password this run already verified passes at once: no check to wait for, no backoff.
    const recalled = registry.recall(username, password);
    if (recalled && registry.allows(recalled)) {
      credentials.set(client, recalled);
      return null;
    }
    const address = ('remoteAddress' in client.conn ? client.conn.remoteAddress : undefined) ?? 'unknown';
    const key = `${address} ${client.id} ${createHmac('sha256', backoffSecret).update(password).digest('base64')}`;
    if (!backoff.begin(key)) {
      if (enforcing()) return refusal('bad username or password', BAD_USERNAME_OR_PASSWORD);
      return null;
    }
    let credential: Credential | undefined;
    try {
      credential = await registry.verify(username, password, { source: address, wanted: () => !client.closed });
    } catch (error) {
      if (!(error instanceof PasswordChecksBusyError)) throw error;
      if (!enforcing()) return null;
      log(`refused client ${who(client)} from ${address}: ${error.message}, try again later`);
      return refusal('server busy', SERVER_UNAVAILABLE);
    } finally {
      backoff.end(key);
    }
    if (credential && registry.allows(credential)) {
      backoff.succeeded(key);
      credentials.set(client, credential);
      return null;
    }
    // Authentication off: wrong credentials still get in, as no credentials do.
    if (!enforcing()) return null;
    backoff.failed(key);
    log(`refused client ${who(client)} from ${address}: unknown device or wrong password`);
    return refusal('bad username or password', BAD_USERNAME_OR_PASSWORD);
  };
  // The platform keeps no session: what a persistent one would hold for a client
  // while it is away (its subscriptions, messages queued for them) has no bound.
  aedes.preConnect = (_client, packet, callback) => {
    packet.clean = true;
    callback(null, true);
  };
  aedes.authenticate = (client, username, password, callback) => {
    admit(client, username, password).then(
      (error) => (error ? callback(error, null) : callback(null, true)),
      (error: unknown) => callback(refusal(error instanceof Error ? error.message : String(error), SERVER_UNAVAILABLE), null),
    );
  };
  // Like the IoT device policy, authentication grants devices no subscriptions.
  aedes.authorizeSubscribe = (client, subscription, callback) => {
    if (!enforcing()) return callback(null, subscription);
    log(`refused subscription of ${who(client)} to ${subscription.topic}: devices publish only`);
    callback(null, null);
  };
  // Subscriptions made before authentication was switched on (or restored with a session) deliver nothing.
  aedes.authorizeForward = (_client, packet) => (enforcing() ? null : packet);
  aedes.authorizePublish = (client, packet, callback) => {
    if (packet.topic.startsWith('$SYS')) {
      callback(new Error('$SYS topics are reserved'));
      return;
    }
    // The platform serves no retained messages: each retained topic would be kept in memory for good. Wills pass here too.
    packet.retain = false;
    if (registry && enforcing()) {
      const credential = client ? credentials.get(client) : undefined;
      const device = credential && registry.allows(credential) ? credential.device : undefined;
      // An integration publishes on its integration topic, for the sensors behind it, to its dataset only.
      const own = device ? (device.integration ? integrationTopicFor : topicFor)(device.datasetId, device.sensorId) : undefined;
      // Its own topic, or the same by Basic Ingest to its dataset's rule, as the device policy allows.
      const basic = splitBasicIngestTopic(packet.topic);
      const ruleOf = device?.integration ? isIntegrationRuleName : isDatasetRuleName;
      const mine = device !== undefined && (basic ? basic.topic === own && ruleOf(basic.ruleName, device.datasetId) : packet.topic === own);
      if (!mine) {
        log(`refused publish by ${who(client)} to ${packet.topic}: ${own ? `${device?.integration ? 'an integration' : 'a device'} publishes only to ${own}` : 'not a device with valid credentials'}`);
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

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    unauthenticated.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      unauthenticated.done(socket);
    });
    aedes.handle(socket);
    const frames = new PacketFrames(maxPacketBytes);
    // aedes reads with read() on 'readable'; a 'data' listener added after it sees each
    // chunk as aedes takes it, without switching the socket to flowing mode.
    socket.on('data', (chunk: Buffer) => {
      unauthenticated.received(socket, chunk.length);
      const problem = frames.feed(chunk);
      if (problem === undefined || socket.destroyed) return;
      log(`closed connection from ${socket.remoteAddress ?? 'unknown'}: ${problem}`);
      socket.destroy();
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      stopFollowing?.();
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
    unauthenticated: () => unauthenticated.stats(),
    close: async () => {
      stopFollowing?.();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Connections that never finished CONNECT are no client of aedes: ended here.
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
