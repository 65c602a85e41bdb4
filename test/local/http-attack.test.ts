/**
 * HTTP push against attackers and misconfigured senders: odd paths and
 * dataset names, another integration's route, slow senders that dribble
 * headers or body, and more connections than the endpoint keeps. Real
 * endpoint, real durable ingest, real sockets; nothing refused is written.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushAuthorization } from '../../functions/core/integrations.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { DeviceRegistry } from '../../local/devices.ts';
import { startHttpPush, type HttpPushEndpoint, type HttpPushOptions } from '../../local/http-push.ts';
import { Ingest } from '../../local/ingest.ts';
import { BUFFERING_DEFAULTS } from '../../local/raw-buffer.ts';
import { tempDir } from '../helpers/fixtures.ts';

/** Far beyond the timeouts set here, far below the 30 s a slow sender was held before Node's connection check was set. */
const SAFETY_NET_MS = 15_000;
const READING = JSON.stringify({ sensorId: 'aq-1', ts: '2026-11-29T11:00:00Z', pm25: 12 });

let dataDir: string;
let devices: DeviceRegistry;
let ingest: Ingest;
let gateway: string;
let ttn: string;
const sockets: Socket[] = [];
const endpoints: HttpPushEndpoint[] = [];

beforeAll(async () => {
  dataDir = await tempDir('datastroom-http-attack-', 'file');
  const layout = dataDirLayout(dataDir);
  devices = DeviceRegistry.of(layout);
  await devices.open();
  ({ password: gateway } = await devices.register('air_quality', 'gw-1', undefined, {}));
  ({ password: ttn } = await devices.register('air_quality', 'ttn-app1', undefined, { format: 'ttn-v3' }));
  ingest = new Ingest(layout.buffers, layout.root, BUFFERING_DEFAULTS, () => undefined, { log: () => undefined });
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(endpoints.map((e) => e.close()));
  await ingest.sealAll();
  devices.close();
});

async function endpoint(options: Partial<HttpPushOptions> = {}): Promise<HttpPushEndpoint> {
  const started = await startHttpPush({ ingest, devices, port: 0, formatsOf: () => ['datastroom', 'ttn-v3'], ...options });
  endpoints.push(started);
  return started;
}

function socketTo(port: number): Socket {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  return socket;
}

/** Sends a raw request and resolves with everything answered until the server closes. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = socketTo(port);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.write(text);
  });
}

/** Writes `text` one byte at a time, a few ms apart, until the server closes; resolves with its answer. */
function dribble(port: number, head: string, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = socketTo(port);
    let answer = '';
    let i = 0;
    const timer = setInterval(() => {
      if (!socket.destroyed && socket.writable) socket.write(text[i++ % text.length] ?? ' ');
    }, 20);
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(answer);
    });
    socket.write(head);
  });
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1]);
const post = (path: string, auth: string) => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: ${READING.length}\r\nConnection: close\r\n\r\n${READING}`;

describe('HTTP push against attackers and misconfigured senders', () => {
  it('refuses odd paths and dataset names that are object keys, names them in the answer, and writes nothing', async () => {
    const push = await endpoint();
    const auth = pushAuthorization('gw-1', gateway);
    const cases: [string, number, RegExp][] = [
      ['/ingest/__proto__', 404, /^unknown dataset "__proto__": known datasets are air_quality,/],
      ['/ingest/constructor', 404, /^unknown dataset "constructor": known datasets are/],
      ['/ingest/hasOwnProperty/toString', 404, /^unknown dataset "hasOwnProperty"/],
      ['/ingest/air_quality%00', 404, /^unknown dataset "air_quality%00"/],
      ['/ingest/air%5Fquality', 404, /^unknown dataset "air%5Fquality"/],
      ['/ingest/../ingest/air_quality', 404, /^no such path: POST to \/ingest\/<dataset>\[\/<format>\]$/],
      ['/ingest%2fair_quality', 404, /^no such path/],
      ['/ingest/air_quality/ttn-v3/extra', 404, /^no such path/],
      ['/ingest//air_quality', 404, /^no such path/],
      ['/ingest/air_quality/__proto__', 404, /^dataset air_quality accepts no format "__proto__": it accepts datastroom, ttn-v3$/],
    ];
    for (const [path, status, message] of cases) {
      const answer = await rawRequest(push.port, post(path, auth));
      expect(statusOf(answer), path).toBe(status);
      expect(answer, path).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: string };
      expect(body.error, path).toMatch(message);
    }
    const tooLong = await rawRequest(push.port, post(`/ingest/${'a'.repeat(20_000)}`, auth));
    expect(statusOf(tooLong)).toBe(431);
    expect(push.stats()).toEqual({ accepted: 0, refused: { 404: cases.length } });
  });

  it('refuses one integration\'s credentials for another format and garbled Authorization headers alike', async () => {
    const push = await endpoint();
    const answers = await Promise.all([
      rawRequest(push.port, post('/ingest/air_quality/datastroom', pushAuthorization('ttn-app1', ttn))),
      rawRequest(push.port, post('/ingest/air_quality', 'Basic')),
      rawRequest(push.port, post('/ingest/air_quality', 'Basic %%%%')),
      rawRequest(push.port, post('/ingest/air_quality', `Basic ${Buffer.from(`gw-1:${gateway}`).toString('base64')} extra`)),
      rawRequest(push.port, post('/ingest/air_quality', `Bearer __proto__:${gateway}`)),
      rawRequest(push.port, post('/ingest/air_quality', `Digest gw-1:${gateway}`)),
    ]);
    expect(answers.map(statusOf)).toEqual([403, 401, 401, 401, 401, 401]);
    expect(answers[0]).toMatch(/"integration ttn-app1 delivers format ttn-v3 only"/);
    expect(push.stats()).toEqual({ accepted: 0, refused: { 401: 5, 403: 1 } });
  });

  it('closes a connection whose headers arrive too slowly, answered 408', async () => {
    const push = await endpoint({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const answer = await dribble(push.port, 'POST /ingest/air_quality HTTP/1.1\r\nX-Pad: ', 'abcdefgh');
    expect(statusOf(answer)).toBe(408);
  }, SAFETY_NET_MS);

  it('closes a connection whose body arrives too slowly, answered 408, and writes nothing of it', async () => {
    const push = await endpoint({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const head = `POST /ingest/air_quality HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${pushAuthorization('gw-1', gateway)}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`;
    const answer = await dribble(push.port, head, ' ');
    expect(statusOf(answer)).toBe(408);
    expect(push.stats().accepted).toBe(0);
  }, SAFETY_NET_MS);

  it('closes connections beyond its limit at once, and serves again once they are gone', async () => {
    const push = await endpoint({ maxConnections: 4 });
    const idle = [0, 1, 2, 3].map(() => socketTo(push.port));
    // Each answered once and kept alive: the endpoint holds all four.
    const first = await Promise.all(
      idle.map((s) => {
        s.write('GET /ingest/air_quality HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        return new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString('latin1'))));
      }),
    );
    expect(first.map(statusOf)).toEqual([405, 405, 405, 405]);
    const extra = await rawRequest(push.port, post('/ingest/air_quality', pushAuthorization('gw-1', gateway)));
    expect(extra).toBe('');
    for (const s of idle) s.destroy();
    let answer = '';
    for (let attempt = 0; attempt < 100 && statusOf(answer) !== 202; attempt++) {
      answer = await rawRequest(push.port, post('/ingest/air_quality', pushAuthorization('gw-1', gateway)));
      if (statusOf(answer) !== 202) await new Promise((r) => setTimeout(r, 20));
    }
    expect(statusOf(answer)).toBe(202);
    expect(push.stats()).toEqual({ accepted: 1, refused: { 405: 4 } });
  });
});
