/**
 * The open-data portal `datastroom publish` writes from a data dir the real
 * local platform filled over MQTT (every dataset, three days, places for
 * every sensor): its catalog parses as the same RDF from Turtle and JSON-LD
 * and conforms to the DCAT-AP shapes kept in publish/shapes/, lists exactly
 * the open datasets with their coverage as the data has it, and its
 * distributions open with the rows the query engine counts. No file of it
 * holds a shared or closed dataset's id, field or sensor.
 */
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import rdf from '@zazuko/env';
import { JsonLdParser } from 'jsonld-streaming-parser';
import mqtt from 'mqtt';
import { Parser, Store, type Quad, type Term } from 'n3';
import SHACLValidator from 'rdf-validate-shacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVELOPE_COLUMNS, registry, type Dataset } from '../../datasets/index.ts';
import { quoteString } from '../../functions/core/columns.ts';
import { topicFor } from '../../functions/core/envelope.ts';
import { demoPlace } from '../../local/city.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { writeLocalPlaces } from '../../local/places.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { brusselsIso, plausibleReading, seededRandom } from '../../local/readings.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import { EU_AUTHORITY, frequencyUri, LICENCE_URIS, PREFIXES } from '../../publish/catalog.ts';
import { folderPortalSink, localPortalSource } from '../../publish/local.ts';
import { PORTAL_STATE, publishPortal } from '../../publish/portal.ts';
import { findWebAssets } from '../../web/assets.ts';
import { cli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';

const BASE = 'https://opendata.example.be/portaal/';
const SHAPES = resolve(import.meta.dirname, '../../publish/shapes/dcat-ap.ttl');
const open = registry.filter((d) => d.governance.classification === 'open');
const notOpen = registry.filter((d) => d.governance.classification !== 'open');
const SENSORS = 3;
const sensorId = (dataset: Dataset, n: number) => `s-${dataset.id.replace(/_/g, '-')}-${n}`;
const DAY = 86_400_000;
const now = Date.now();
/** When each sensor reports: two days ago, twice yesterday, an hour ago. */
const times = [now - 2 * DAY, now - DAY - 3_600_000, now - DAY, now - 3_600_000].map((t) => new Date(t));
const day = (t: Date) => t.toISOString().slice(0, 10);
const days = [...new Set(times.map(day))].sort();

const iri = (prefix: keyof typeof PREFIXES, local: string) => `${PREFIXES[prefix]}${local}`;

let dataDir: string;
let output: string;
let turtle: Quad[];
let store: Store;

/** Every quad of a Turtle text. */
function parseTurtle(text: string): Quad[] {
  return new Parser().parse(text);
}

/** Every quad of a JSON-LD text, as a JSON-LD processor reads it. */
async function parseJsonLd(text: string): Promise<Quad[]> {
  const parser = new JsonLdParser();
  const quads: Quad[] = [];
  await new Promise<void>((done, fail) => {
    parser.on('data', (q: Quad) => quads.push(q));
    parser.on('error', fail);
    parser.on('end', () => done());
    parser.end(text);
  });
  return quads;
}

/** A quad as comparable text; blank nodes by the label the catalog gave them (parsers prefix their own). */
function canonical(q: Quad): string {
  const t = (term: Term) => {
    if (term.termType === 'BlankNode') return `_:${term.value.replace(/^(?:n3-\d+|b\d+_)/, '')}`;
    if (term.termType === 'Literal') return `"${term.value}"@${term.language}^^${term.datatype.value}`;
    return term.value;
  };
  return `${t(q.subject)} ${t(q.predicate)} ${t(q.object)}`;
}

async function validate(quads: readonly Quad[]) {
  const shapes = rdf.dataset(new Parser().parse(await readFile(SHAPES, 'utf8')));
  const validator = new SHACLValidator(shapes, { factory: rdf });
  return validator.validate(rdf.dataset([...quads]));
}

const objects = (subject: Term | string, predicate: string) => store.getObjects(subject, predicate, null);
const values = (subject: Term | string, predicate: string) => objects(subject, predicate).map((o) => o.value).sort();

/** Every file under a folder, by path relative to it. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  const out: string[] = [];
  for (const entry of entries) if ((await stat(join(dir, entry))).isFile()) out.push(entry);
  return out.sort();
}

beforeAll(async () => {
  dataDir = await tempDir('datastroom-portal-data-', 'file');
  output = join(await tempDir('datastroom-portal-', 'file'), 'portaal');
  const platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, dashboard: false, compaction: false, buffering: { maxAgeMs: 60_000 }, log: () => {} });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'portal-seed' });
  const random = seededRandom(13);
  for (const dataset of registry) {
    for (let n = 1; n <= SENSORS; n++) {
      for (const at of times) {
        const reading = { ...plausibleReading(dataset, at, random), ts: brusselsIso(at) };
        await client.publishAsync(topicFor(dataset.id, sensorId(dataset, n)), JSON.stringify(reading), { qos: 1 });
      }
    }
  }
  await client.endAsync();
  const summary = await platform.stop();
  expect(summary.curated).toBe(registry.length * SENSORS * times.length);
  await writeLocalPlaces(
    dataDirLayout(dataDir),
    registry.flatMap((d) => Array.from({ length: SENSORS }, (_, i) => demoPlace(d, sensorId(d, i + 1), i + 1))),
  );

  const run = await cli(['publish', '--output', output, '--base-url', BASE, '--publisher', 'Stad Gent', '--data-dir', dataDir]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(new RegExp(`published ${open.length} open datasets to ${output}`));
  for (const d of open) expect(run.stdout).toMatch(new RegExp(`${d.id} +${days.length} days, ${SENSORS * times.length} rows; ${days.length} days written\n`));
  turtle = parseTurtle(await readFile(join(output, 'catalog.ttl'), 'utf8'));
  store = new Store(turtle);
}, 120_000);

afterAll(async () => {
  if (output) await rm(output, { recursive: true, force: true });
});

describe('the open-data catalog', () => {
  it('is the same RDF as Turtle and as JSON-LD, and both conform to the DCAT-AP shapes', async () => {
    const jsonld = await parseJsonLd(await readFile(join(output, 'catalog.jsonld'), 'utf8'));
    expect(new Set(jsonld.map(canonical))).toEqual(new Set(turtle.map(canonical)));
    expect(jsonld).toHaveLength(turtle.length);
    for (const quads of [turtle, jsonld]) {
      const report = await validate(quads);
      expect(report.results.map((r) => `${r.focusNode?.value} ${r.path?.value}: ${r.message.map((m) => m.value).join('; ')}`)).toEqual([]);
      expect(report.conforms).toBe(true);
    }
  });

  it('fails the shapes without a mandatory property: the publisher’s name, a distribution’s access URL, a Dutch title', async () => {
    const without = (predicate: string, objectTest: (q: Quad) => boolean = () => true) => {
      const dropped = turtle.find((q) => q.predicate.value === predicate && objectTest(q));
      expect(dropped, predicate).toBeDefined();
      return turtle.filter((q) => q !== dropped);
    };
    const cases: [Quad[], string][] = [
      [without(iri('foaf', 'name')), iri('foaf', 'name')],
      [without(iri('dcat', 'accessURL')), iri('dcat', 'accessURL')],
      [without(iri('dct', 'title'), (q) => q.subject.value === `${BASE}dataset/air_quality` && q.object.termType === 'Literal' && q.object.language === 'nl'), iri('dct', 'title')],
    ];
    for (const [quads, path] of cases) {
      const report = await validate(quads);
      expect(report.conforms).toBe(false);
      expect(report.results.map((r) => r.path?.value)).toEqual([path]);
    }
  });

  it('lists exactly the open datasets, with titles and descriptions in Dutch and English, licence, frequency, themes and keywords from the registry', () => {
    const catalog = `${BASE}catalog`;
    expect(values(catalog, iri('dcat', 'dataset'))).toEqual(open.map((d) => `${BASE}dataset/${d.id}`).sort());
    expect(store.getSubjects(iri('rdf', 'type'), iri('dcat', 'Dataset'), null)).toHaveLength(open.length);
    const publisher = objects(catalog, iri('dct', 'publisher'))[0]?.value ?? '';
    expect(values(publisher, iri('foaf', 'name'))).toEqual(['Stad Gent']);
    for (const d of open) {
      const node = `${BASE}dataset/${d.id}`;
      const text = (predicate: string, language: string) => objects(node, predicate).find((o) => o.termType === 'Literal' && o.language === language)?.value;
      expect(text(iri('dct', 'title'), 'nl')).toBe(d.nl.title);
      expect(text(iri('dct', 'title'), 'en')).toBe(d.title);
      expect(text(iri('dct', 'description'), 'nl')).toBe(d.nl.description);
      expect(text(iri('dct', 'description'), 'en')).toBe(d.description);
      expect(values(node, iri('dct', 'accrualPeriodicity'))).toEqual([frequencyUri(d.governance.updateFrequency)]);
      expect(values(node, iri('dcat', 'theme'))).toEqual((d.themes ?? []).map((t) => `${EU_AUTHORITY}data-theme/${t}`).sort());
      expect(values(node, iri('dcat', 'keyword'))).toEqual([...d.keywords].sort());
      const contact = objects(node, iri('dcat', 'contactPoint'))[0]!;
      expect(values(contact, iri('vcard', 'hasEmail'))).toEqual([`mailto:${d.governance.steward}`]);
      const distributions = objects(node, iri('dcat', 'distribution'));
      // A CSV and a Parquet file per day, the places and the views.
      expect(distributions).toHaveLength(2 * days.length + 2);
      for (const distribution of distributions) expect(values(distribution.value, iri('dct', 'license'))).toEqual([LICENCE_URIS[d.governance.licence]]);
    }
    expect(frequencyUri('PT10M')).toBe(`${EU_AUTHORITY}frequency/10MIN`);
    expect(LICENCE_URIS['Modellicentie Gratis Hergebruik Vlaanderen v1.0']).toBe('https://data.vlaanderen.be/id/licentie/modellicentie-gratis-hergebruik/v1.0');
  });

  it('gives each dataset the time span of its readings and the bounding box of its sensors, as the data has them', async () => {
    const engine = await LocalQueryEngine.open(dataDir, registry);
    try {
      for (const d of open) {
        const node = `${BASE}dataset/${d.id}`;
        const period = objects(node, iri('dct', 'temporal'))[0]!;
        const [span] = (await engine.query(`SELECT strftime(min(ts), '%Y-%m-%dT%H:%M:%SZ'), strftime(max(ts), '%Y-%m-%dT%H:%M:%SZ') FROM ${d.id}`)).rows;
        expect(values(period, iri('dcat', 'startDate'))).toEqual([span?.[0]]);
        expect(values(period, iri('dcat', 'endDate'))).toEqual([span?.[1]]);
        const [box] = (await engine.query(`SELECT min(longitude), min(latitude), max(longitude), max(latitude) FROM sensors WHERE dataset = ${quoteString(d.id)}`)).rows;
        const location = objects(node, iri('dct', 'spatial'))[0]!;
        const [minLon, minLat, maxLon, maxLat] = (box ?? []).map(Number);
        expect(values(location, iri('dcat', 'bbox'))).toEqual([`POLYGON((${minLon} ${minLat}, ${maxLon} ${minLat}, ${maxLon} ${maxLat}, ${minLon} ${maxLat}, ${minLon} ${minLat}))`]);
      }
    } finally {
      engine.close();
    }
  });
});

describe('the distributions', () => {
  it('exist at their URLs with their byte sizes; the CSV and Parquet of a day hold the rows the query engine counts for it', async () => {
    const engine = await LocalQueryEngine.open(dataDir, registry);
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      for (const d of open) {
        for (const distribution of objects(`${BASE}dataset/${d.id}`, iri('dcat', 'distribution'))) {
          const url = values(distribution.value, iri('dcat', 'downloadURL'))[0] ?? '';
          expect(values(distribution.value, iri('dcat', 'accessURL'))).toEqual([url]);
          const file = join(output, url.slice(BASE.length));
          expect(values(distribution.value, iri('dcat', 'byteSize'))).toEqual([String((await stat(file)).size)]);
        }
        for (const dt of days) {
          const [[expected]] = (await engine.query(`SELECT count(*) FROM ${d.id} WHERE dt = DATE '${dt}'`)).rows as unknown[][] as [[bigint]];
          const csv = join(output, 'data', d.id, `${d.id}-${dt}.csv`);
          const parquet = join(output, 'data', d.id, `${d.id}-${dt}.parquet`);
          const count = async (sql: string) => Number((await conn.runAndReadAll(sql)).getRowsJS()[0]?.[0]);
          expect(await count(`SELECT count(*) FROM read_csv(${quoteString(csv)}, header = true)`), `${d.id} ${dt} csv`).toBe(Number(expected));
          expect(await count(`SELECT count(*) FROM read_parquet(${quoteString(parquet)})`), `${d.id} ${dt} parquet`).toBe(Number(expected));
          expect(Number(expected)).toBe(SENSORS * times.filter((t) => day(t) === dt).length);
        }
      }
    } finally {
      engine.close();
      conn.closeSync();
      instance.closeSync();
    }
  });

  it('include DuckDB views over the portal’s own files that answer as the platform’s views do', async () => {
    const engine = await LocalQueryEngine.open(dataDir, registry);
    try {
      for (const d of open) {
        const instance = await DuckDBInstance.create(':memory:');
        const conn = await instance.connect();
        try {
          await conn.run(`SET file_search_path = ${quoteString(join(output, 'data', d.id))}`);
          await conn.run(await readFile(join(output, 'data', d.id, `${d.id}-views.sql`), 'utf8'));
          const portal = (await conn.runAndReadAll(`SELECT sensor_id, name, count(*)::INTEGER FROM ${d.id}_sensors GROUP BY ALL ORDER BY 1`)).getRowsJS();
          const platform = (await engine.query(`SELECT sensor_id, name, sum(readings)::INTEGER FROM ${d.id}_sensors GROUP BY ALL ORDER BY 1`)).rows;
          expect(portal.map((r) => r.slice(0, 2))).toEqual(platform.map((r) => r.slice(0, 2)));
          expect(portal).toHaveLength(SENSORS);
          const [[hourly]] = (await conn.runAndReadAll(`SELECT sum(readings)::INTEGER FROM ${d.id}_hourly`)).getRowsJS() as [[number]];
          expect(hourly).toBe(SENSORS * times.length);
        } finally {
          conn.closeSync();
          instance.closeSync();
        }
      }
    } finally {
      engine.close();
    }
  });
});

describe('the portal folder', () => {
  it('holds nothing of a shared or closed dataset: no id, no field of its own, no sensor, in any file', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    const all = await files(output);
    expect(all).toContain('index.html');
    expect(all).toContain(PORTAL_STATE);
    const web = findWebAssets();
    // The dashboard's page code is the build's, byte for byte: code, the same for every audience, no data.
    const pageCode = new Set<string>();
    if (web) {
      expect(all).toContain('dashboard/api/dashboard.json');
      for (const name of ['app.js', 'app.css']) {
        expect((await readFile(join(output, 'dashboard', name))).equals(await readFile(join(web, name))), name).toBe(true);
        pageCode.add(`dashboard/${name}`);
      }
    }
    const openFields = new Set([...ENVELOPE_COLUMNS, 'dt', ...open.flatMap((d) => d.fields.map((f) => f.name))]);
    const tokens = notOpen.flatMap((d) => [d.id, d.title, d.nl.title, ...Array.from({ length: SENSORS }, (_, i) => sensorId(d, i + 1))]);
    const fields = [...new Set(notOpen.flatMap((d) => d.fields.map((f) => f.name)))].filter((f) => !openFields.has(f));
    expect(fields.length).toBeGreaterThan(3);
    // A field as a name: a JSON key, a CSV column, an SQL identifier, an IRI's last part (not a word in a sentence).
    const asName = (field: string) => new RegExp(`(^|[",(./#])${field}($|[",:)])`, 'm');
    for (const path of all) {
      const text = (await readFile(join(output, path))).toString('latin1');
      for (const token of tokens) expect(text.includes(token), `${path} holds ${token}`).toBe(false);
      if (pageCode.has(path)) continue;
      for (const field of fields) expect(asName(field).test(text), `${path} holds the field ${field}`).toBe(false);
      if (path.endsWith('.parquet')) {
        const columns = (await conn.runAndReadAll(`SELECT name FROM parquet_schema(${quoteString(join(output, path))})`)).getRowsJS().map((r) => String(r[0]));
        expect(columns.filter((c) => fields.includes(c)), path).toEqual([]);
        expect(columns).toContain('ts');
      }
    }
    conn.closeSync();
    instance.closeSync();
  });

  it('is brought up to date by a second run: no day written again, a day gone from the lake gone from the portal, a dataset no longer open gone whole', async () => {
    const options = { baseUrl: BASE, publisher: 'Stad Gent', contactEmail: 'opendata@stad.example.be', workDir: await tempDir() };
    const layout = dataDirLayout(dataDir);
    const run = async (datasets: readonly Dataset[] = registry) => {
      const instance = await DuckDBInstance.create(':memory:');
      const conn = await instance.connect();
      try {
        return await publishPortal(localPortalSource(layout), folderPortalSink(output), conn, { ...options, datasets });
      } finally {
        conn.closeSync();
        instance.closeSync();
      }
    };
    const again = await run();
    expect(again.datasets.map((d) => [d.id, d.written, d.removed])).toEqual(open.map((d) => [d.id, 0, 0]));

    const [first] = days;
    const air = open[0]!;
    await rm(join(dataDir, 'curated', air.id, `dt=${first}`), { recursive: true });
    const after = await run();
    expect(after.datasets.find((d) => d.id === air.id)).toMatchObject({ days: days.length - 1, written: 0, removed: 1 });
    await expect(stat(join(output, 'data', air.id, `${air.id}-${first}.csv`))).rejects.toThrow(/ENOENT/);
    const catalog = await readFile(join(output, 'catalog.ttl'), 'utf8');
    expect(catalog).not.toContain(`${air.id}-${first}`);
    expect(catalog).toContain(`${open[1]!.id}-${first}`);

    // Reclassified as shared: the dataset leaves the portal whole, catalog and files.
    const reclassified = registry.map((d) => (d.id === air.id ? { ...d, governance: { ...d.governance, classification: 'shared' as const } } : d));
    const last = await run(reclassified);
    expect(last.datasets.map((d) => d.id)).toEqual(open.slice(1).map((d) => d.id));
    await expect(stat(join(output, 'data', air.id))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(output, 'dashboard', 'api', 'series', `${air.id}.json`))).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(output, 'catalog.ttl'), 'utf8')).not.toContain(air.id);
    expect(await readFile(join(output, 'index.html'), 'utf8')).not.toContain(air.id);
  });

  it('is written only to a new folder or one publish wrote before, and needs --output', async () => {
    const missing = await cli(['publish', '--data-dir', dataDir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^datastroom publish: publish needs --output DIR/);
    const foreign = await tempDir();
    await writeFile(join(foreign, 'notes.txt'), 'mine');
    const refused = await cli(['publish', '--output', foreign, '--data-dir', dataDir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/holds files publish did not write \(no portal-state\.json\): name a new or empty folder/);
    expect(await readdir(foreign)).toEqual(['notes.txt']);
    const inside = await cli(['publish', '--output', join(dataDir, 'portal'), '--data-dir', dataDir]);
    expect(inside.code).toBe(2);
    expect(inside.stderr).toMatch(/outside the data directory/);
  });
});
