/**
 * The city dashboard in a real browser (Debian's Chromium through
 * playwright-core), with the demo fleet running: every dataset has markers
 * and a chart with values, a new reading appears without a reload, and the
 * public dashboard shows no value of a closed or shared dataset, on the
 * page, in its JSON or on its event stream; the copy `datastroom publish`
 * writes renders from its files alone. Screenshots go to test-artifacts/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../datasets/index.ts';
import type { DashboardSnapshot } from '../../web/aggregates.ts';
import { cli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/dev-process.ts';

const BIN = resolve(import.meta.dirname, '../../bin/datastroom.mjs');
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const notOpen = registry.filter((d) => d.governance.classification !== 'open');

let dev: ChildProcess;
let dataDir: string;
let stderr = '';
let internal = '';
let publicUrl = '';
let context: BrowserContext;
let profile: string;

async function json<T>(url: string): Promise<T> {
  const response = await fetch(url);
  expect(response.status, url).toBe(200);
  return (await response.json()) as T;
}

describe('the city dashboard in a browser', () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run installs it)`);
    dataDir = await tempDir('datastroom-dashboard-', 'file');
    dev = spawn(
      process.execPath,
      [BIN, 'dev', '--port', '0', '--dashboard-port', '0', '--public-port', '0', '--sensors', '14', '--interval-ms', '300', '--flush-ms', '700', '--data-dir', dataDir],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    dev.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const gone = () => (dev.exitCode !== null ? `dev exited with ${dev.exitCode}:\n${stderr}` : undefined);
    await until(() => /public dashboard .* on (http:\S+)/.test(stderr), 'dev to serve the dashboards', gone);
    internal = /city dashboard on (http:\S+)/.exec(stderr)?.[1] ?? '';
    publicUrl = /public dashboard .* on (http:\S+)/.exec(stderr)?.[1] ?? '';
    // Every dataset's fleet has reported and been curated.
    for (;;) {
      const snapshot = await json<DashboardSnapshot>(`${internal}api/dashboard.json`);
      if (snapshot.datasets.every((d) => d.sensors.some((s) => s.latest && s.place))) break;
      const reason = gone();
      if (reason) throw new Error(reason);
      await new Promise((r) => setTimeout(r, 250));
    }
    await mkdir(ARTIFACTS, { recursive: true });
    profile = await mkdtemp(join(tmpdir(), 'datastroom-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    if (dev && dev.exitCode === null) {
      dev.kill('SIGINT');
      await new Promise((r) => dev.once('exit', r));
    }
  });

  it('shows every dataset’s sensors on the map and a chart of values per dataset, then a new reading without a reload', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(internal);
    await page.waitForSelector('body[data-rendered]');
    for (const dataset of registry) {
      const markers = page.locator(`path.sensor-marker.ds-${dataset.id}`);
      expect(await markers.count(), dataset.id).toBe(2);
      const values = await markers.evaluateAll((paths) => paths.map((p) => p.getAttribute('data-value') ?? ''));
      expect(values.some((v) => v !== '' && Number.isFinite(Number(v))), `${dataset.id} values ${values.join(',')}`).toBe(true);
      expect(Number(await page.locator(`[data-chart="${dataset.id}"]`).getAttribute('data-points')), dataset.id).toBeGreaterThan(0);
      expect(await page.locator(`[data-chart="${dataset.id}"] canvas`).count(), dataset.id).toBe(1);
      expect(await page.locator(`tr[data-register="${dataset.id}"]`).count()).toBe(1);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-internal.png'), fullPage: true });

    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    const before = await page.locator('[data-latest="air_quality"]').textContent();
    await page.waitForFunction((shown) => document.querySelector('[data-latest="air_quality"]')?.textContent !== shown, before);
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    expect(Number(await page.evaluate(() => document.body.dataset.updates))).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('is usable on a phone: the map and the charts fit its width', async () => {
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(internal);
    await page.waitForSelector('body[data-rendered]');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(await page.locator('path.sensor-marker').count()).toBe(14);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png') });
    await page.close();
  });

  it('in public shows open datasets only, on the page, in its JSON and on its event stream', async () => {
    const page = await context.newPage();
    await page.goto(publicUrl);
    await page.waitForSelector('body[data-rendered]');
    await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) > 2);
    const open = registry.filter((d) => d.governance.classification === 'open');
    expect(await page.locator('path.sensor-marker').count()).toBe(2 * open.length);
    for (const dataset of notOpen) {
      expect(await page.locator(`.ds-${dataset.id}, [data-dataset="${dataset.id}"], [data-register="${dataset.id}"]`).count()).toBe(0);
    }
    const html = await page.content();
    const snapshot = await (await fetch(`${publicUrl}api/dashboard.json`)).text();
    const events = await (async () => {
      const controller = new AbortController();
      const response = await fetch(`${publicUrl}api/events`, { signal: controller.signal });
      let text = '';
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      const stop = setTimeout(() => controller.abort(), 3000);
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value);
        }
      } catch {
        // aborted after three seconds of events
      }
      clearTimeout(stop);
      return text;
    })();
    expect(events).toMatch(/event: update/);
    for (const text of [html, snapshot, events]) {
      for (const dataset of notOpen) {
        expect(text).not.toContain(dataset.id);
        expect(text).not.toContain(dataset.id.replace(/_/g, '-'));
        for (const field of dataset.fields.filter((f) => f.name !== 'ts')) expect(text).not.toContain(`"${field.name}"`);
      }
    }
    for (const dataset of notOpen) expect((await fetch(`${publicUrl}api/series/${dataset.id}.json`)).status).toBe(404);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-public.png'), fullPage: true });
    await page.close();
  });

  it('as the open-data portal publishes it, renders from its files alone: open datasets’ markers and charts, as of the run', async () => {
    const portal = join(await tempDir(), 'portaal');
    const run = await cli(['publish', '--output', portal, '--data-dir', dataDir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const site = await serveFolder(portal);
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${site.url}dashboard/`);
      await page.waitForSelector('body[data-rendered]');
      const open = registry.filter((d) => d.governance.classification === 'open');
      expect(await page.locator('path.sensor-marker').count()).toBe(2 * open.length);
      for (const dataset of open) expect(Number(await page.locator(`[data-chart="${dataset.id}"]`).getAttribute('data-points')), dataset.id).toBeGreaterThan(0);
      for (const dataset of notOpen) expect(await page.locator(`.ds-${dataset.id}, [data-dataset="${dataset.id}"], [data-register="${dataset.id}"]`).count()).toBe(0);
      expect(await page.locator('#status').textContent()).toMatch(/^stand van /);
      expect(errors).toEqual([]);
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-portal.png'), fullPage: true });
      await page.close();
    } finally {
      await site.close();
    }
  });
});

/** A folder served over HTTP as a static site (CloudFront serving the portal bucket, on this machine). */
async function serveFolder(root: string): Promise<{ url: string; close: () => Promise<void> }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.png': 'image/png' };
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://portal').pathname);
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    readFile(file).then(
      (body) => {
        response.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' });
        response.end(body);
      },
      () => {
        response.writeHead(404);
        response.end();
      },
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise((done) => server.close(() => done())) };
}
