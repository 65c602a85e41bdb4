import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { findDataset, registry } from '../datasets/index.ts';
import { MAX_PAYLOAD_BYTES } from '../functions/core/envelope.ts';
import { httpVia, isJsonMediaType, parsePushPath, pushCredentials, PUSH_PATH_ROOT } from '../functions/core/integrations.ts';
import { AuthBackoff } from './broker.ts';
import { PasswordChecksBusyError, type DeviceRegistry } from './devices.ts';
import type { Ingest } from './ingest.ts';

/** What the local HTTP push endpoint accepts, and for how long it waits. */
export const HTTP_PUSH_DEFAULTS = Object.freeze({
  /** Taken when free; `datastroom dev` falls back to any free port otherwise, and prints the one it got. */
  port: 8088,
  /** A request must have sent its headers by then (slow-loris). */
  headersTimeoutMs: 10_000,
  /** A request must have sent its whole body by then. */
  requestTimeoutMs: 30_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** Open connections at most; beyond, new ones are closed at once. */
  maxConnections: 256,
});

/** Options of {@link startHttpPush}. */
export interface HttpPushOptions {
  readonly ingest: Ingest;
  /** Registered integrations: only they may push, each to its own dataset. */
  readonly devices: DeviceRegistry;
  /** @default HTTP_PUSH_DEFAULTS.port */
  readonly port?: number;
  /** @default '127.0.0.1' - only this machine; '0.0.0.0' lets senders on the network in */
  readonly host?: string;
  /** When the port is taken, listen on any free one instead of failing. @default false */
  readonly fallback?: boolean;
  /**
   * The formats a dataset accepts, to refuse a push path naming another.
   * @default - any format named is taken, and judged by the transform
   */
  readonly formatsOf?: (datasetId: string) => readonly string[];
  /** Where refusals are reported: the first of each status, then counted. @default - nowhere */
  readonly log?: (line: string) => void;
  /** @default HTTP_PUSH_DEFAULTS.headersTimeoutMs */
  readonly headersTimeoutMs?: number;
  /** @default HTTP_PUSH_DEFAULTS.requestTimeoutMs */
  readonly requestTimeoutMs?: number;
  /** @default HTTP_PUSH_DEFAULTS.keepAliveTimeoutMs */
  readonly keepAliveTimeoutMs?: number;
  /** @default HTTP_PUSH_DEFAULTS.maxConnections */
  readonly maxConnections?: number;
}

/** What the endpoint has taken in and refused so far. */
export interface HttpPushStats {
  /** Payloads durably written to raw and acknowledged. */
  readonly accepted: number;
  /** Requests refused, per HTTP status. */
  readonly refused: Readonly<Record<number, number>>;
}

/** The local HTTP push endpoint. */
export interface HttpPushEndpoint {
  readonly port: number;
  readonly host: string;
  stats(): HttpPushStats;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** The endpoint could not listen: the port is taken or not allowed. */
export class HttpPushListenError extends Error {
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    const hint = cause.code === 'EADDRINUSE' ? ' (choose another with --http-port, or switch HTTP push off with --no-http)' : '';
    super(`HTTP push cannot listen on ${host}:${port}: ${cause.code ?? cause.message}${hint}`);
    this.name = 'HttpPushListenError';
  }
}

/** A refusal: its status, a message the sender can act on, and headers. */
class Refusal {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

const UNAUTHORIZED = () => new Refusal(401, 'unknown integration or wrong secret: send Authorization: Basic base64(<integration>:<secret>)', { 'WWW-Authenticate': 'Basic realm="datastroom", charset="UTF-8"' });

/**
 * Starts the local HTTP push endpoint: `POST /ingest/<dataset>[/<format>]`
 * with an integration's credentials. A payload is answered 202 only once its
 * raw line is on disk, as a QoS 1 publish is acknowledged; a sender that
 * hears nothing, or a 5xx, sends again, and the same payload again is the
 * same message (removed as a duplicate). Credentials are checked as the
 * broker checks a device's password (scrypt, the same cost for unknown
 * names, verified ones remembered, failures backing off).
 */
export async function startHttpPush(options: HttpPushOptions): Promise<HttpPushEndpoint> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  const refused: Record<number, number> = {};
  let accepted = 0;
  const backoff = new AuthBackoff();
  const backoffSecret = randomBytes(32);

  const handle = async (req: IncomingMessage): Promise<{ status: number; body: unknown }> => {
    if (req.method !== 'POST') throw new Refusal(405, `only POST is served, to /${PUSH_PATH_ROOT}/<dataset>[/<format>]`, { Allow: 'POST' });
    const path = parsePushPath(req.url ?? '');
    if (!path) throw new Refusal(404, `no such path: POST to /${PUSH_PATH_ROOT}/<dataset>[/<format>]`);
    const dataset = findDataset(path.datasetId);
    if (!dataset) throw new Refusal(404, `unknown dataset "${path.datasetId}": known datasets are ${registry.map((d) => d.id).join(', ')}`);
    const formats = options.formatsOf?.(dataset.id);
    if (path.format !== undefined && formats !== undefined && !formats.includes(path.format)) {
      throw new Refusal(404, `dataset ${dataset.id} accepts no format "${path.format}": it accepts ${formats.join(', ')}`);
    }
    const given = pushCredentials(req.headers.authorization);
    if (!given) throw UNAUTHORIZED();
    const address = req.socket.remoteAddress ?? 'unknown';
    const key = `${address} ${given.name} ${createHmac('sha256', backoffSecret).update(given.secret).digest('base64')}`;
    const secret = Buffer.from(given.secret);
    let credential = options.devices.recall(given.name, secret);
    if (!credential) {
      if (!backoff.begin(key)) throw UNAUTHORIZED();
      try {
        credential = await options.devices.verify(given.name, secret, { source: address, wanted: () => !req.socket.destroyed });
      } catch (error) {
        if (error instanceof PasswordChecksBusyError) throw new Refusal(503, `${error.message}: try again shortly`, { 'Retry-After': '1' });
        throw error;
      } finally {
        backoff.end(key);
      }
      // A device's credentials are no integration's: refused alike, so the answer tells no name apart.
      if (!credential || !options.devices.allows(credential) || !credential.device.integration) {
        backoff.failed(key);
        throw UNAUTHORIZED();
      }
      backoff.succeeded(key);
    } else if (!options.devices.allows(credential) || !credential.device.integration) {
      throw UNAUTHORIZED();
    }
    const { device } = credential;
    const route = device.integration ?? {};
    if (device.datasetId !== dataset.id) throw new Refusal(403, `integration ${device.sensorId} delivers to dataset ${device.datasetId} only`);
    if (path.format !== undefined && route.format !== undefined && path.format !== route.format) {
      throw new Refusal(403, `integration ${device.sensorId} delivers format ${route.format} only`);
    }
    if (!isJsonMediaType(req.headers['content-type'])) {
      throw new Refusal(415, `send the payload as JSON (Content-Type: application/json), got ${JSON.stringify(req.headers['content-type'] ?? 'none')}`);
    }
    const body = await readBody(req);
    if (body.length === 0) throw new Refusal(400, 'the body is empty: send the payload as JSON');
    const format = path.format ?? route.format;
    try {
      await options.ingest.deliver(dataset.id, { name: device.sensorId, via: httpVia(device.sensorId), ...(format === undefined ? {} : { format }) }, body);
    } catch (error) {
      log(`HTTP push from ${device.sensorId}: the payload could not be written (${error instanceof Error ? error.message : String(error)}); answered 503, the sender sends again`);
      throw new Refusal(503, 'the payload could not be stored: send it again later', { 'Retry-After': '5' });
    }
    accepted += 1;
    return { status: 202, body: { accepted: true } };
  };

  const respond = (res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}) => {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store', ...headers });
    res.end(text);
  };

  const headersTimeout = options.headersTimeoutMs ?? HTTP_PUSH_DEFAULTS.headersTimeoutMs;
  const requestTimeout = options.requestTimeoutMs ?? HTTP_PUSH_DEFAULTS.requestTimeoutMs;
  // Node checks both timeouts only every connectionsCheckingInterval (30 s by default): a slow sender would be held that long whatever they say.
  const shortest = Math.min(4_000, ...[headersTimeout, requestTimeout].filter((t) => t > 0));
  const connectionsCheckingInterval = Math.max(10, Math.floor(shortest / 4));
  const server: Server = createServer({ headersTimeout, requestTimeout, connectionsCheckingInterval }, (req, res) => {
    handle(req).then(
      ({ status, body }) => respond(res, status, body),
      (error: unknown) => {
        const refusal = error instanceof Refusal ? error : new Refusal(500, 'internal error');
        refused[refusal.status] = (refused[refusal.status] ?? 0) + 1;
        if (refused[refusal.status] === 1 || !(error instanceof Refusal)) {
          const why = error instanceof Refusal ? refusal.message : error instanceof Error ? error.message : String(error);
          log(`HTTP push: refused ${req.method ?? '?'} ${req.url ?? ''} from ${req.socket.remoteAddress ?? 'unknown'} with ${refusal.status}: ${why}; further ${refusal.status}s are counted`);
        }
        // A body left unread (refused before it was read) is not waited for: the connection closes after the answer.
        const headers = req.complete ? refusal.headers : { ...refusal.headers, Connection: 'close' };
        respond(res, refusal.status, { error: refusal.message }, headers);
        if (!req.complete) res.once('finish', () => req.socket.destroy());
      },
    );
  });
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? HTTP_PUSH_DEFAULTS.keepAliveTimeoutMs;
  server.maxConnections = options.maxConnections ?? HTTP_PUSH_DEFAULTS.maxConnections;
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => reject(error);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  const wanted = options.port ?? HTTP_PUSH_DEFAULTS.port;
  let port: number;
  try {
    port = await listen(wanted);
  } catch (error) {
    const cause = error as NodeJS.ErrnoException;
    if (!(options.fallback ?? false) || cause.code !== 'EADDRINUSE') throw new HttpPushListenError(host, wanted, cause);
    port = await listen(0).catch((again: NodeJS.ErrnoException) => {
      throw new HttpPushListenError(host, 0, again);
    });
    log(`HTTP push: port ${wanted} is taken, listening on ${port} instead (choose one with --http-port)`);
  }
  return {
    port,
    host,
    stats: () => ({ accepted, refused: { ...refused } }),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** The request body, refused with 413 as soon as it passes MAX_PAYLOAD_BYTES (or says it will). */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const tooLarge = () => new Refusal(413, `the payload is over ${MAX_PAYLOAD_BYTES} bytes: send fewer readings per request`);
  if (Number.isFinite(declared) && declared > MAX_PAYLOAD_BYTES) throw tooLarge();
  // Read by events, not by async iteration: leaving an iteration early would destroy the socket before the 413 is sent.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_PAYLOAD_BYTES) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.pause();
      chunks.length = 0;
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('aborted', () => reject(new Refusal(400, 'the request was aborted')));
  });
}
