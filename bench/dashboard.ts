/**
 * The city dashboard with 7 days of a 500-sensor fleet kept (every dataset,
 * a reading a minute per sensor, the curated layout the platform writes):
 *
 *   1. the data endpoint (api/dashboard.json) against a trivial request to
 *      the same server (an unknown api/ path), median of many requests: as
 *      served (the snapshot cached between changes) and rebuilt on every
 *      request (a reading arriving before each); and one dataset's chart
 *      data (api/series/<id>.json) the same two ways
 *   2. the page's first render in Chromium (navigation start to the page
 *      marking itself rendered), against a blank page from a server of the
 *      same kind
 *
 * The aggregates are filled as `datastroom dev` fills them: the feed
 * summarises the last day's curated files once at start (timed too).
 *
 * BENCH_DASHBOARD_SCALE (default 1) scales the fleet; BENCH_DASHBOARD_REQUESTS
 * (default 300) is the requests per measure, BENCH_DASHBOARD_RENDERS
 * (default 5) the page loads per measure.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { registry, type Dataset, type FieldSpec } from '../datasets/index.ts';
import { curatedColumns, quoteIdent, quoteString } from '../functions/core/columns.ts';
import { zonePrefix } from '../functions/core/keys.ts';
import { DEMO_CITY, demoPlace } from '../local/city.ts';
import { dataDirLayout } from '../local/data-dir.ts';
import { writeLocalPlaces } from '../local/places.ts';
import { DashboardAggregates } from '../web/aggregates.ts';
import { findWebAssets } from '../web/assets.ts';
import { DashboardFeed } from '../web/feed.ts';
import { startDashboardServer } from '../web/server.ts';

const SCALE = Number(process.env.BENCH_DASHBOARD_SCALE ?? 1);
const REQUESTS = Number(process.env.BENCH_DASHBOARD_REQUESTS ?? 300);
const RENDERS = Number(process.env.BENCH_DASHBOARD_RENDERS ?? 5);
const SENSORS = Math.max(registry.length, Math.round(500 * SCALE));
const DAYS = 7;
/** Files per dataset and day: a raw object an hour, as the transform writes them. */
const FILES_PER_DAY = 24;
const CHROMIUM = '/usr/bin/chromium';
const log = (line: string) => process.stderr.write(`${line}\n`);

/** A value of a field, as SQL over the row number `i`: within the field's typical range, or a value it accepts. */
function valueSql(field: FieldSpec): string {
  const [low, high] = field.typical ?? [field.minimum ?? 0, field.maximum ?? 100];
  switch (field.kind) {
    case 'double':
      return `round(${low} + random() * ${high - low}, 2)`;
    case 'bigint':
      return `CAST(${Math.ceil(low)} + floor(random() * ${Math.max(1, Math.floor(high) - Math.ceil(low) + 1)}) AS BIGINT)`;
    case 'boolean':
      return 'random() < 0.5';
    case 'varchar':
      return field.enum?.[0] === undefined ? 'md5(i::VARCHAR)' : quoteString(field.enum[0]);
    case 'timestamp':
      return 'ts';
  }
}

/** Lays out 7 days of the fleet as curated files, today up to now, and the sensors' places. */
async function layOut(root: string, now: Date): Promise<{ sensors: number; readings: number; files: number }> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run("SET TimeZone = 'UTC'");
  const perDataset = Math.floor(SENSORS / registry.length);
  let readings = 0;
  let files = 0;
  const places = [];
  for (const dataset of registry) {
    const ids = Array.from({ length: perDataset }, (_, n) => `${dataset.id.replace(/_/g, '-')}-${String(n + 1).padStart(3, '0')}`);
    places.push(...ids.map((id, n) => demoPlace(dataset, id, n + 1, now)));
    const columns = curatedColumns(dataset).map((c) => {
      if (c.name === 'sensor_id') return `${quoteString(`${dataset.id.replace(/_/g, '-')}-`)} || lpad(((i % ${perDataset}) + 1)::VARCHAR, 3, '0') AS "sensor_id"`;
      if (c.name === 'ts') return '"ts"';
      if (c.name === 'received_at') return `"ts" + INTERVAL 2 SECOND AS "received_at"`;
      if (c.name === 'message_id') return `md5(${quoteString(dataset.id)} || i::VARCHAR || "ts"::VARCHAR) AS "message_id"`;
      const field = dataset.fields.find((f) => f.name === c.name);
      return `${field ? valueSql(field) : 'NULL'} AS ${quoteIdent(c.name)}`;
    });
    for (let d = DAYS - 1; d >= 0; d--) {
      const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - d);
      const dt = new Date(start).toISOString().slice(0, 10);
      const dir = join(root, zonePrefix('curated', dataset.id), `dt=${dt}`);
      await mkdir(dir, { recursive: true });
      const minutes = d === 0 ? Math.floor((now.getTime() - start) / 60_000) : 1440;
      for (let f = 0; f < FILES_PER_DAY; f++) {
        const from = Math.floor((f * minutes) / FILES_PER_DAY) * perDataset;
        const to = Math.floor(((f + 1) * minutes) / FILES_PER_DAY) * perDataset;
        if (to <= from) continue;
        const rows = `SELECT i, TIMESTAMP '${dt} 00:00:00' + to_minutes(i // ${perDataset}) AS "ts" FROM range(${from}, ${to}) t(i)`;
        await conn.run(`COPY (SELECT ${columns.join(', ')} FROM (${rows})) TO ${quoteString(join(dir, `bench-${f}.parquet`))} (FORMAT parquet)`);
        readings += to - from;
        files += 1;
      }
    }
  }
  conn.closeSync();
  instance.closeSync();
  await writeLocalPlaces(dataDirLayout(root), places);
  return { sensors: perDataset * registry.length, readings, files };
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** Median milliseconds of a GET, after a few to warm up; `before` runs ahead of each request, untimed. */
async function timeRequests(url: string, before: () => void = () => undefined): Promise<{ ms: number; bytes: number }> {
  let bytes = 0;
  for (let i = 0; i < 10; i++) await (await fetch(url)).arrayBuffer();
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    before();
    const started = performance.now();
    const response = await fetch(url);
    bytes = (await response.arrayBuffer()).byteLength;
    times.push(performance.now() - started);
  }
  return { ms: median(times), bytes };
}

/** A page that is nothing: what any page costs the browser to load. */
async function startBlankServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    response.end('<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>leeg</title></head><body></body></html>');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise((done) => server.close(() => done())) };
}

/** Median first-render times in Chromium of the dashboard and of a blank page, ms after navigation start. */
async function timeRenders(dashboardUrl: string): Promise<{ dashboardMs: number; blankMs: number } | undefined> {
  if (!existsSync(CHROMIUM)) {
    log(`dashboard bench: no Chromium at ${CHROMIUM}, first render not measured (apt-get install chromium)`);
    return undefined;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  const blank = await startBlankServer();
  try {
    const dashboard: number[] = [];
    const empty: number[] = [];
    for (let i = 0; i < RENDERS; i++) {
      // A fresh context each time: nothing cached, as a visitor's first view.
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.goto(dashboardUrl);
      await page.waitForSelector('body[data-rendered]', { timeout: 60_000 });
      dashboard.push(await page.evaluate(() => performance.now()));
      const other = await context.newPage();
      await other.goto(blank.url, { waitUntil: 'load' });
      empty.push(await other.evaluate(() => performance.getEntriesByType('navigation')[0]?.duration ?? performance.now()));
      await context.close();
    }
    return { dashboardMs: median(dashboard), blankMs: median(empty) };
  } finally {
    await blank.close();
    await browser.close();
  }
}

/** The measurements of the dashboard under the fleet. */
export async function measureDashboard() {
  const root = await mkdtemp(join(tmpdir(), 'datastroom-dashboard-bench-'));
  const now = new Date();
  try {
    log(`dashboard: laying out ${DAYS} days of ${SENSORS} sensors...`);
    const laid = await layOut(root, now);
    const aggregates = new DashboardAggregates();
    const feed = await DashboardFeed.open(dataDirLayout(root), aggregates, log);
    const startupStarted = performance.now();
    await feed.start();
    const startupMs = performance.now() - startupStarted;
    const assetsDir = findWebAssets();
    const server = await startDashboardServer({ aggregates, audience: 'internal', port: 0, assetsDir, city: DEMO_CITY, maxSnapshotAgeMs: 0 });
    try {
      log('dashboard: requests against its server...');
      const trivial = await timeRequests(`${server.url}api/none`);
      const cached = await timeRequests(`${server.url}api/dashboard.json`);
      const air = registry[0] as Dataset;
      // A reading arriving before each request: the snapshot is built again for every answer.
      let tick = 0;
      const arrive = () =>
        aggregates.add({ datasetId: air.id, buckets: [], latest: [{ sensorId: 'air-quality-001', ts: now.getTime() + ++tick, receivedAt: now.getTime() + tick, values: { pm25: 10 } }] });
      const rebuilt = await timeRequests(`${server.url}api/dashboard.json`, arrive);
      const series = await timeRequests(`${server.url}api/series/${air.id}.json`);
      const seriesRebuilt = await timeRequests(`${server.url}api/series/${air.id}.json`, arrive);
      log('dashboard: first render in Chromium...');
      const render = assetsDir ? await timeRenders(server.url) : undefined;
      if (!assetsDir) log('dashboard bench: the page is not built (npm run build), first render not measured');
      const ratio = (a: number, b: number) => Math.round((a / b) * 10) / 10;
      return {
        sensors: laid.sensors,
        days: DAYS,
        readingsKept: laid.readings,
        filesKept: laid.files,
        startupMs: Math.round(startupMs),
        trivialMs: Math.round(trivial.ms * 1000) / 1000,
        snapshot: { bytes: cached.bytes, cachedMs: Math.round(cached.ms * 1000) / 1000, rebuiltMs: Math.round(rebuilt.ms * 1000) / 1000, cachedRatio: ratio(cached.ms, trivial.ms), rebuiltRatio: ratio(rebuilt.ms, trivial.ms) },
        series: {
          bytes: series.bytes,
          cachedMs: Math.round(series.ms * 1000) / 1000,
          rebuiltMs: Math.round(seriesRebuilt.ms * 1000) / 1000,
          cachedRatio: ratio(series.ms, trivial.ms),
          rebuiltRatio: ratio(seriesRebuilt.ms, trivial.ms),
        },
        render: render ? { firstRenderMs: Math.round(render.dashboardMs), blankPageMs: Math.round(render.blankMs), ratio: ratio(render.dashboardMs, render.blankMs) } : null,
      };
    } finally {
      await server.close();
      await feed.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The measurements as lines. */
export function dashboardLines(m: Awaited<ReturnType<typeof measureDashboard>>): string[] {
  return [
    `dashboard, ${m.sensors} sensors, ${m.days} days kept (${m.readingsKept.toLocaleString('en-US')} readings in ${m.filesKept} files); the last day summarised at start in ${m.startupMs} ms`,
    `  data endpoint (${(m.snapshot.bytes / 1024).toFixed(0)} KB): ${m.snapshot.cachedMs} ms as served, ${m.snapshot.rebuiltMs} ms rebuilt for every request; a trivial request ${m.trivialMs} ms: ${m.snapshot.cachedRatio}x and ${m.snapshot.rebuiltRatio}x`,
    `  one dataset's chart data (${(m.series.bytes / 1024).toFixed(0)} KB): ${m.series.cachedMs} ms as served, ${m.series.rebuiltMs} ms rebuilt: ${m.series.cachedRatio}x and ${m.series.rebuiltRatio}x`,
    m.render
      ? `  first render in Chromium: ${m.render.firstRenderMs} ms after navigation start; a blank page ${m.render.blankPageMs} ms: ${m.render.ratio}x`
      : '  first render in Chromium: not measured',
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const measured = await measureDashboard();
  process.stdout.write(`${dashboardLines(measured).join('\n')}\n${JSON.stringify({ dashboard: measured })}\n`);
}
