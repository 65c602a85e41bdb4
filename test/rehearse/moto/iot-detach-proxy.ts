/**
 * A proxy in front of moto_server that gives IoT Core's asynchronous detach
 * back to moto, whose DetachThingPrincipal takes effect at once. After a
 * detach, for a set number of calls each, the thing still lists the
 * certificate, DeleteThing answers "Cannot delete. Thing ... is still
 * attached to one or more principals" and DeleteCertificate answers "Things
 * must be detached before deletion", as IoT Core does while the detach
 * completes. Every other request passes through untouched.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { z } from 'zod';

/** How many calls of each kind see a detach as not yet done. */
export interface DetachLag {
  readonly listings: number;
  readonly thingDeletes: number;
  readonly certificateDeletes: number;
}

/** What the proxy answered in place of moto. */
export interface ProxyAnswers {
  stillListed: number;
  thingStillAttached: number;
  certificateStillAttached: number;
  refused: number;
}

/** An IoT error as the service returns it. */
export interface IotError {
  readonly status: number;
  readonly type: string;
  readonly message: string;
}

export interface AsyncDetachProxy {
  readonly endpoint: string;
  readonly answers: Readonly<ProxyAnswers>;
  /** Answers the next IoT request of this method and path with an error instead of passing it on. */
  refuseNext(method: string, path: RegExp, error: IotError): void;
  close(): Promise<void>;
}

interface PendingDetach {
  readonly thingName: string;
  readonly principal: string;
  listings: number;
  thingDeletes: number;
  certificateDeletes: number;
}

const THING_PRINCIPALS = /^\/things\/([^/?]+)\/principals(?:\?|$)/;
const THING = /^\/things\/([^/?]+)(?:\?|$)/;
const CERTIFICATE = /^\/certificates\/([^/?]+)(?:\?|$)/;

/** Starts the proxy on a free loopback port, in front of `target` (moto's endpoint). */
export async function startAsyncDetachProxy(target: string, lag: DetachLag): Promise<AsyncDetachProxy> {
  const upstream = new URL(target);
  const pending: PendingDetach[] = [];
  const answers: ProxyAnswers = { stillListed: 0, thingStillAttached: 0, certificateStillAttached: 0, refused: 0 };
  const refusals: { method: string; path: RegExp; error: IotError }[] = [];

  const reply = (res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer) => {
    res.writeHead(status, { ...headers, 'content-length': String(body.length) });
    res.end(body);
  };
  const fail = (res: ServerResponse, error: IotError) =>
    reply(res, error.status, { 'content-type': 'application/json', 'x-amzn-errortype': error.type }, Buffer.from(JSON.stringify({ message: error.message })));

  const forward = async (req: IncomingMessage, body: Buffer) => {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const upstreamRequest = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, resolve);
      upstreamRequest.on('error', reject);
      upstreamRequest.end(body);
    });
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(Buffer.from(chunk));
    const headers = Object.fromEntries(Object.entries(response.headers).flatMap(([k, v]) => (typeof v === 'string' && k !== 'content-length' ? [[k, v]] : [])));
    return { status: response.statusCode ?? 502, headers, body: Buffer.concat(chunks) };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(Buffer.from(chunk));
    const body = Buffer.concat(chunks);
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    // Only IoT's control plane is touched: its requests are signed for the iot service.
    const iot = /\/iot\/aws4_request/.test(req.headers.authorization ?? '');
    if (!iot) {
      const response = await forward(req, body);
      return reply(res, response.status, response.headers, response.body);
    }

    const refusal = refusals.findIndex((r) => r.method === method && r.path.test(path));
    if (refusal >= 0) {
      const { error } = refusals.splice(refusal, 1)[0]!;
      answers.refused += 1;
      return fail(res, error);
    }

    const principalsOf = THING_PRINCIPALS.exec(path);
    if (principalsOf && method === 'DELETE') {
      const response = await forward(req, body);
      const principal = req.headers['x-amzn-principal'];
      if (response.status === 200 && typeof principal === 'string') {
        pending.push({ thingName: decodeURIComponent(principalsOf[1]!), principal, ...lag });
      }
      return reply(res, response.status, response.headers, response.body);
    }
    if (principalsOf && method === 'GET') {
      const thingName = decodeURIComponent(principalsOf[1]!);
      const response = await forward(req, body);
      const lagging = pending.filter((p) => p.thingName === thingName && p.listings > 0);
      if (response.status !== 200 || lagging.length === 0) return reply(res, response.status, response.headers, response.body);
      const listed = z.looseObject({ principals: z.array(z.string()).default([]) }).parse(JSON.parse(response.body.toString('utf8')));
      for (const p of lagging) {
        p.listings -= 1;
        answers.stillListed += 1;
        if (!listed.principals.includes(p.principal)) listed.principals.push(p.principal);
      }
      return reply(res, 200, response.headers, Buffer.from(JSON.stringify(listed)));
    }
    const thing = THING.exec(path);
    if (thing && method === 'DELETE') {
      const thingName = decodeURIComponent(thing[1]!);
      const lagging = pending.find((p) => p.thingName === thingName && p.thingDeletes > 0);
      if (lagging) {
        lagging.thingDeletes -= 1;
        answers.thingStillAttached += 1;
        return fail(res, { status: 400, type: 'InvalidRequestException', message: `Cannot delete. Thing ${thingName} is still attached to one or more principals` });
      }
    }
    const certificate = CERTIFICATE.exec(path);
    if (certificate && method === 'DELETE') {
      const certificateId = decodeURIComponent(certificate[1]!);
      const lagging = pending.find((p) => p.principal.endsWith(`:cert/${certificateId}`) && p.certificateDeletes > 0);
      if (lagging) {
        lagging.certificateDeletes -= 1;
        answers.certificateStillAttached += 1;
        return fail(res, { status: 409, type: 'DeleteConflictException', message: `Things must be detached before deletion (arn: ${lagging.principal})` });
      }
    }
    const response = await forward(req, body);
    return reply(res, response.status, response.headers, response.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) fail(res, { status: 502, type: 'ProxyError', message: error instanceof Error ? error.message : String(error) });
      else res.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    answers,
    refuseNext: (method, path, error) => void refusals.push({ method, path, error }),
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
