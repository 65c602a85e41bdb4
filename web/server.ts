/**
 * The city dashboard's HTTP server: the page and its bundled assets, the
 * data as JSON from the aggregates (never from the lake), and an event
 * stream (SSE) of new readings. A public server answers for open datasets
 * only, on every path: the page, the JSON and the stream.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { visibleDatasets, type Audience, type DashboardAggregates, type DashboardSnapshot, type TileConfig } from './aggregates.ts';

/** Options of {@link startDashboardServer}. */
export interface DashboardServerOptions {
  readonly aggregates: DashboardAggregates;
  /** Who may look: `public` serves open datasets only. */
  readonly audience: Audience;
  /** @default 0 - any free port */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** The built page (index.html, app.js, app.css). @default - none: the page says how to build it, the data still answers */
  readonly assetsDir?: string;
  /** @default null - no tiles: the city's outline on a plain background */
  readonly tiles?: TileConfig | null;
  readonly city: DashboardSnapshot['city'];
  /**
   * The longest a served snapshot lags the aggregates: readings arrive
   * continuously, and the event stream carries them in between.
   * @default 1000
   */
  readonly maxSnapshotAgeMs?: number;
  /** Event streams open at once; beyond, a new one is answered 503. @default DASHBOARD_SERVER_DEFAULTS.maxStreams */
  readonly maxStreams?: number;
  /**
   * Bytes an event stream may have waiting for a client that does not read;
   * beyond, the stream is closed (a browser reconnects and starts afresh).
   * @default DASHBOARD_SERVER_DEFAULTS.maxStreamBacklogBytes
   */
  readonly maxStreamBacklogBytes?: number;
  /** @default DASHBOARD_SERVER_DEFAULTS.headersTimeoutMs */
  readonly headersTimeoutMs?: number;
  /** @default DASHBOARD_SERVER_DEFAULTS.requestTimeoutMs */
  readonly requestTimeoutMs?: number;
  /** @default DASHBOARD_SERVER_DEFAULTS.maxConnections */
  readonly maxConnections?: number;
}

/** Limits of the dashboard server, against clients that open many streams or never read them. */
export const DASHBOARD_SERVER_DEFAULTS = Object.freeze({
  maxStreams: 200,
  maxStreamBacklogBytes: 1024 * 1024,
  /** A request must have sent its headers by then (slow-loris). */
  headersTimeoutMs: 10_000,
  /** A request must have been received whole by then (an event stream's request is whole once its headers are). */
  requestTimeoutMs: 30_000,
  /** Open connections at most, event streams included; beyond, new ones are closed at once. */
  maxConnections: 512,
});

/** Whether a listening address only takes connections from this machine. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The name a Host header gives (without its port), lower-cased. */
function hostName(header: string): string {
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : (header.split(':')[0] ?? '');
  return name.toLowerCase();
}

/** What the server's event streams are doing. */
export interface DashboardServerStats {
  /** Event streams open now. */
  readonly streams: number;
  /** Event streams closed because their client did not read what was sent. */
  readonly slowStreamsClosed: number;
  /** Event streams refused because too many were open. */
  readonly streamsRefused: number;
}

/** A running dashboard server. */
export interface DashboardServer {
  readonly port: number;
  readonly url: string;
  stats(): DashboardServerStats;
  close(): Promise<void>;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

/** The page's security policy: its own scripts and styles, and the tile server's images when one is configured. */
function contentSecurityPolicy(tiles: TileConfig | null): string {
  let tileOrigin = '';
  if (tiles) {
    try {
      tileOrigin = ` ${new URL(tiles.url.replace(/\{[a-z]\}/g, 'a')).origin}`;
    } catch {
      tileOrigin = '';
    }
  }
  return `default-src 'self'; img-src 'self' data:${tileOrigin}; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'`;
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Datastroom</title>
<p>The dashboard's page is not built: run <code>npm run build</code> (npm ci does it), then reload. Its data answers at <a href="api/dashboard.json">api/dashboard.json</a>.</p>`;

/** Starts the server; resolves once it listens. */
export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const { aggregates, audience } = options;
  const tiles = options.tiles ?? null;
  const maxAge = options.maxSnapshotAgeMs ?? 1000;
  const visible = new Set(visibleDatasets(audience).map((d) => d.id));
  const headers = {
    'Content-Security-Policy': contentSecurityPolicy(tiles),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };
  let cached: { version: number; at: number; body: Buffer } | undefined;
  const snapshotBody = () => {
    const now = Date.now();
    if (!cached || (cached.version !== aggregates.version && now - cached.at >= maxAge)) {
      const snapshot = aggregates.snapshot(audience, { live: true, tiles, city: options.city });
      cached = { version: aggregates.version, at: now, body: Buffer.from(JSON.stringify(snapshot)) };
    }
    return cached.body;
  };
  // A chart's data likewise, per dataset: a page view asks for each dataset's once.
  const seriesCache = new Map<string, { version: number; at: number; body: Buffer | undefined }>();
  const seriesBody = (datasetId: string) => {
    const now = Date.now();
    const hit = seriesCache.get(datasetId);
    if (hit && (hit.version === aggregates.version || now - hit.at < maxAge)) return hit.body;
    const view = aggregates.series(audience, datasetId);
    const body = view ? Buffer.from(JSON.stringify(view)) : undefined;
    seriesCache.set(datasetId, { version: aggregates.version, at: now, body });
    return body;
  };
  const maxStreams = options.maxStreams ?? DASHBOARD_SERVER_DEFAULTS.maxStreams;
  const maxBacklog = options.maxStreamBacklogBytes ?? DASHBOARD_SERVER_DEFAULTS.maxStreamBacklogBytes;
  const streams = new Set<ServerResponse>();
  let slowStreamsClosed = 0;
  let streamsRefused = 0;
  // A client that stops reading would otherwise hold every frame since in memory.
  const broadcast = (frame: string) => {
    for (const response of streams) {
      if (response.writableLength > maxBacklog) {
        streams.delete(response);
        slowStreamsClosed += 1;
        response.destroy();
      } else {
        response.write(frame);
      }
    }
  };
  const stopListening = aggregates.onUpdate((update) => {
    if (!visible.has(update.datasetId)) return;
    broadcast(`event: update\ndata: ${JSON.stringify(update)}\n\n`);
  });
  const heartbeat = setInterval(() => broadcast(': keep-alive\n\n'), 15_000);
  heartbeat.unref();

  const send = (response: ServerResponse, status: number, type: string, body: Buffer | string) => {
    response.writeHead(status, { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    response.end(body);
  };
  const notFound = (response: ServerResponse) => send(response, 404, 'text/plain; charset=utf-8', 'not found\n');

  const serveAsset = async (response: ServerResponse, name: string) => {
    // Assets are the build's flat files: a name with a path in it is no asset.
    if (!options.assetsDir || !/^[\w.-]+$/.test(name) || name.startsWith('.')) return name === 'index.html' ? send(response, 200, TYPES['.html'] ?? 'text/html', NOT_BUILT) : notFound(response);
    const file = join(options.assetsDir, name);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return name === 'index.html' ? send(response, 200, TYPES['.html'] ?? 'text/html', NOT_BUILT) : notFound(response);
    if (name === 'index.html') return send(response, 200, TYPES['.html'] ?? 'text/html', await readFile(file));
    response.writeHead(200, { ...headers, 'Cache-Control': 'public, max-age=300', 'Content-Type': TYPES[extname(name)] ?? 'application/octet-stream', 'Content-Length': info.size });
    // A file that fails while read (removed by a rebuild meanwhile, a disk error) ends this answer, never the server.
    pipeline(createReadStream(file), response).catch(() => response.destroy());
  };

  const host = options.host ?? '127.0.0.1';
  const localOnly = isLoopback(host);
  let port = options.port ?? 0;
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    // A page of another site may point its own name at 127.0.0.1 (DNS rebinding) and read the answers as same-origin:
    // a server listening on this machine only answers to this machine's names.
    const asked = request.headers.host;
    if (localOnly && asked !== undefined && !isLoopback(hostName(asked).replace(/^\[(.*)\]$/, '$1'))) {
      return send(response, 421, 'text/plain; charset=utf-8', `this dashboard answers to localhost and 127.0.0.1 only, not to "${hostName(asked)}": open http://127.0.0.1:${port}/\n`);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...headers, Allow: 'GET, HEAD' });
      response.end();
      return;
    }
    let path: string;
    try {
      path = new URL(request.url ?? '/', 'http://dashboard').pathname;
    } catch {
      return send(response, 400, 'text/plain; charset=utf-8', 'bad request: the path is not a URL path\n');
    }
    if (path === '/' || path === '/index.html') return serveAsset(response, 'index.html');
    if (path === '/api/dashboard.json') return send(response, 200, TYPES['.json'] ?? 'application/json', snapshotBody());
    const series = /^\/api\/series\/([a-z][a-z0-9_]*)\.json$/.exec(path);
    if (series) {
      // A dataset the audience may not see answers exactly as one that does not exist.
      const body = series[1] && visible.has(series[1]) ? seriesBody(series[1]) : undefined;
      return body ? send(response, 200, TYPES['.json'] ?? 'application/json', body) : notFound(response);
    }
    if (path === '/api/events') {
      if (streams.size >= maxStreams) {
        streamsRefused += 1;
        response.setHeader('Retry-After', '10');
        return send(response, 503, 'text/plain; charset=utf-8', `too many event streams open (${maxStreams}): try again shortly\n`);
      }
      response.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
      // A HEAD has no body to stream to: it would hold a stream's place until its client left.
      if (request.method === 'HEAD') return void response.end();
      response.write('retry: 2000\n\n');
      streams.add(response);
      response.once('close', () => streams.delete(response));
      return;
    }
    if (path.startsWith('/api/')) return notFound(response);
    return serveAsset(response, path.slice(1));
  };

  const headersTimeout = options.headersTimeoutMs ?? DASHBOARD_SERVER_DEFAULTS.headersTimeoutMs;
  const requestTimeout = options.requestTimeoutMs ?? DASHBOARD_SERVER_DEFAULTS.requestTimeoutMs;
  // Node checks both timeouts only every connectionsCheckingInterval (30 s by default): a slow client would be held that long whatever they say.
  const shortest = Math.min(4_000, ...[headersTimeout, requestTimeout].filter((t) => t > 0));
  const server: Server = createServer({ headersTimeout, requestTimeout, connectionsCheckingInterval: Math.max(10, Math.floor(shortest / 4)) }, (request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else response.destroy();
    });
  });
  server.maxConnections = options.maxConnections ?? DASHBOARD_SERVER_DEFAULTS.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    stats: () => ({ streams: streams.size, slowStreamsClosed, streamsRefused }),
    close: async () => {
      stopListening();
      clearInterval(heartbeat);
      for (const response of streams) response.end();
      streams.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
