/**
 * The dashboard server against clients that misbehave: paths that try to
 * leave the web root or reach a dataset the audience may not see, request
 * lines that are no URL, event streams that are never read, and more event
 * streams than the server keeps open. Real server, real sockets.
 */
import { connect, type Socket } from 'node:net';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { registry } from '../../datasets/index.ts';
import { DashboardAggregates } from '../../web/aggregates.ts';
import { startDashboardServer, type DashboardServer, type DashboardServerOptions } from '../../web/server.ts';
import { tempDir } from '../helpers/fixtures.ts';

/** Far beyond the timeouts set here, far below the 30 s a slow client was held before Node's connection check was set. */
const SAFETY_NET_MS = 15_000;
const CITY = { name: 'Gent', latitude: 51.0543, longitude: 3.7174 };
const started: DashboardServer[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(started.splice(0).map((s) => s.close()));
});

async function serve(options: Partial<DashboardServerOptions> & { aggregates: DashboardAggregates }): Promise<DashboardServer> {
  const server = await startDashboardServer({ audience: 'public', city: CITY, maxSnapshotAgeMs: 0, ...options });
  started.push(server);
  return server;
}

/** Sends a raw request and resolves with everything the server answered before it closed. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.write(text);
  });
}

/** Opens an event stream on a raw socket and resolves once its headers arrived. */
function openStream(port: number): Promise<{ socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.once('data', (d: Buffer) => resolve({ socket, head: d.toString('latin1') }));
    socket.on('error', reject);
    socket.write('GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  });
}

/** A reading of an open dataset's sensor, as the feed adds it. */
function addReading(aggregates: DashboardAggregates, i: number): void {
  const now = Date.now();
  aggregates.add({ datasetId: 'air_quality', buckets: [], latest: [{ sensorId: `aq-${i % 20}-${'x'.repeat(200)}`, ts: now, receivedAt: now, values: { pm25: i } }] });
}

const closed = registry.filter((d) => d.governance.classification !== 'open').map((d) => d.id);

describe('the dashboard server against misbehaving clients', () => {
  it('serves no file outside its assets and no dataset the public may not see, on any spelling of the path', async () => {
    const assets = await tempDir('datastroom-assets-');
    await writeFile(join(assets, 'index.html'), '<p>dashboard</p>');
    await writeFile(join(assets, 'app.js'), 'void 0;');
    await writeFile(join(assets, '.env'), 'SECRET=1');
    await mkdir(join(assets, 'sub'));
    await writeFile(join(assets, 'sub', 'inner.js'), 'void 1;');
    const server = await serve({ aggregates: new DashboardAggregates(), assetsDir: join(assets) });
    expect(closed.length).toBeGreaterThan(0);
    const paths = [
      '/..%2f..%2fetc/passwd',
      '/../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/..%5c..%5cetc%5cpasswd',
      '/app.js%00.html',
      '/.env',
      '/sub/inner.js',
      '/sub%2finner.js',
      ...closed.map((id) => `/api/series/${id}.json`),
      '/api/series/__proto__.json',
      '/api/series/constructor.json',
    ];
    const answers = await Promise.all(paths.map((path) => fetch(`${server.url}${path.slice(1)}`, { redirect: 'manual' })));
    expect(answers.map((a) => a.status)).toEqual(paths.map(() => 404));
    expect(answers.every((a) => a.headers.get('x-content-type-options') === 'nosniff')).toBe(true);
    expect(new Set(await Promise.all(answers.map((a) => a.text())))).toEqual(new Set(['not found\n']));
    const snapshot = (await (await fetch(`${server.url}api/dashboard.json`)).json()) as { datasets: { id: string }[] };
    expect(snapshot.datasets.filter((d) => closed.includes(d.id))).toEqual([]);
  });

  it('ends only the answer, never the server, when an asset fails while read', async () => {
    const assets = await tempDir('datastroom-assets-');
    await writeFile(join(assets, 'app.js'), 'void 0;');
    // A regular file by stat whose read fails (EIO): as one removed or broken after it was found.
    await symlink('/proc/self/mem', join(assets, 'broken.js'));
    const server = await serve({ aggregates: new DashboardAggregates(), assetsDir: assets });
    // Its client sees the connection close short of the answer; the process lives on.
    await rawRequest(server.port, 'GET /broken.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    const app = await fetch(`${server.url}app.js`);
    expect(app.status).toBe(200);
    expect(await app.text()).toBe('void 0;');
  });

  it('answers HEAD of the event stream with its headers alone, and keeps no stream for it', async () => {
    const server = await serve({ aggregates: new DashboardAggregates() });
    const answer = await rawRequest(server.port, 'HEAD /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toMatch(/Content-Type: text\/event-stream; charset=utf-8\r\n/);
    expect(server.stats().streams).toBe(0);
  });

  it('answers a request line that is no URL path with 400, not an internal error', async () => {
    const server = await serve({ aggregates: new DashboardAggregates() });
    const answer = await rawRequest(server.port, 'GET http://[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(/bad request: the path is not a URL path\n$/);
  });

  it('closes an event stream whose client never reads, and keeps the one that does', async () => {
    const aggregates = new DashboardAggregates();
    const server = await serve({ aggregates, maxStreamBacklogBytes: 64 * 1024 });
    const stuck = await openStream(server.port);
    stuck.socket.pause();
    const reader = await openStream(server.port);
    let read = 0;
    reader.socket.on('data', (d: Buffer) => (read += d.length));
    expect(server.stats().streams).toBe(2);
    // The kernel's socket buffers take the first megabytes; the server holds the rest until its limit.
    for (let i = 0; i < 200_000 && server.stats().slowStreamsClosed === 0; i++) {
      addReading(aggregates, i);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(server.stats()).toEqual({ streams: 1, slowStreamsClosed: 1, streamsRefused: 0 });
    expect(read).toBeGreaterThan(0);
    expect(reader.socket.destroyed).toBe(false);
  });

  it('on this machine only, answers to its own names and refuses any other Host (DNS rebinding) with 421, on every path', async () => {
    const server = await serve({ aggregates: new DashboardAggregates(), audience: 'internal' });
    const get = (path: string, host: string) => rawRequest(server.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    const own = await Promise.all(['127.0.0.1', `127.0.0.1:${server.port}`, `localhost:${server.port}`, `LOCALHOST`, `[::1]:${server.port}`].map((h) => get('/api/dashboard.json', h)));
    expect(own.map((a) => a.slice(0, 15))).toEqual(own.map(() => 'HTTP/1.1 200 OK'));
    const foreign = await Promise.all([
      get('/api/dashboard.json', `attacker.example:${server.port}`),
      get('/api/events', 'attacker.example'),
      get('/api/series/anpr_passage.json', '127.0.0.1.attacker.example'),
      get('/', `[2001:db8::1]:${server.port}`),
    ]);
    expect(foreign.map((a) => a.slice(0, 13))).toEqual(foreign.map(() => 'HTTP/1.1 421 '));
    expect(foreign[0]).toMatch(new RegExp(`this dashboard answers to localhost and 127\\.0\\.0\\.1 only, not to "attacker\\.example": open http://127\\.0\\.0\\.1:${server.port}/\n$`));
    expect(server.stats().streams).toBe(0);
  });

  it('answers any Host when it listens on the network', async () => {
    const server = await serve({ aggregates: new DashboardAggregates(), host: '0.0.0.0' });
    const answer = await rawRequest(server.port, 'GET /api/dashboard.json HTTP/1.1\r\nHost: dashboard.gent.example\r\nConnection: close\r\n\r\n');
    expect(answer.slice(0, 15)).toBe('HTTP/1.1 200 OK');
  });

  it('closes a connection whose headers arrive too slowly, answered 408', async () => {
    const server = await serve({ aggregates: new DashboardAggregates(), headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1');
      sockets.push(socket);
      let text = '';
      const timer = setInterval(() => socket.writable && socket.write('a'), 20);
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        resolve(text);
      });
      socket.write('GET /api/dashboard.json HTTP/1.1\r\nX-Pad: ');
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  }, SAFETY_NET_MS);

  it('refuses event streams beyond its limit with 503 and says why, and takes one again once another closed', async () => {
    const server = await serve({ aggregates: new DashboardAggregates(), maxStreams: 3 });
    const open = await Promise.all([0, 1, 2].map(() => openStream(server.port)));
    expect(open.map((s) => /^HTTP\/1\.1 200 /.test(s.head))).toEqual([true, true, true]);
    const refused = await rawRequest(server.port, 'GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(refused).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused).toMatch(/Retry-After: 10\r\n/);
    expect(refused).toMatch(/too many event streams open \(3\): try again shortly\n$/);
    open[0]?.socket.destroy();
    while (server.stats().streams > 2) await new Promise((r) => setTimeout(r, 10));
    const again = await openStream(server.port);
    expect(again.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(server.stats()).toEqual({ streams: 3, slowStreamsClosed: 0, streamsRefused: 1 });
  });
});
