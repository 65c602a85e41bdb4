/**
 * The open-data portal: for each open dataset a CSV and a Parquet file per
 * day, its sensors' places as CSV and the SQL of its views over those files,
 * the DCAT-AP Vlaanderen catalog of them (Turtle and JSON-LD), a static page
 * listing them, and a static copy of the public dashboard. The same core
 * writes it locally (`datastroom publish`) and on AWS (the scheduled
 * publishing function); only where the curated files come from and where
 * the portal goes differ. It reads only open datasets: shared and closed
 * ones are never asked for.
 */
import { createHash } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { registry, type Dataset } from '../datasets/index.ts';
import { curatedColumns, DUCKDB_TYPES, parquetSchemaSql, quoteIdent, quoteString } from '../functions/core/columns.ts';
import { PLACES_TABLE, type SensorPlace } from '../functions/core/places.ts';
import { allViews } from '../glue/views.ts';
import { DashboardAggregates, visibleDatasets, WINDOW_HOURS, type DashboardSnapshot, type TileConfig } from '../web/aggregates.ts';
import { summariseFiles } from '../web/summarise.ts';
import { catalogJsonLd, catalogQuads, catalogTurtle, MEDIA_TYPES, type BoundingBox, type DatasetFacts, type DistributionFile } from './catalog.ts';
import { portalPage } from './page.ts';

export { PORTAL_DEFAULTS } from './defaults.ts';

/** A day a dataset has curated files for, and a signature that changes when its files do. */
export interface SourceDay {
  /** YYYY-MM-DD */
  readonly day: string;
  readonly signature: string;
}

/** A day's curated Parquet files as local paths, until released. */
export interface FetchedDay {
  readonly files: readonly string[];
  /** Lets go of the files (removes what was downloaded). */
  release(): Promise<void>;
}

/** Where the curated files of open datasets come from. */
export interface PortalSource {
  /** The days a dataset has curated files for, with their signatures; listing only, nothing is read. */
  days(datasetId: string): Promise<SourceDay[]>;
  /** A day's curated files, to read. */
  fetch(datasetId: string, day: string): Promise<FetchedDay>;
  /** The places of these datasets' sensors. */
  places(datasetIds: readonly string[]): Promise<SensorPlace[]>;
}

/** Where the portal goes. */
export interface PortalSink {
  /** Puts a local file at a path of the portal. */
  putFile(path: string, file: string, contentType: string): Promise<void>;
  putText(path: string, text: string, contentType: string): Promise<void>;
  /** The text at a path, or undefined. */
  getText(path: string): Promise<string | undefined>;
  /** Removes files of the portal (a missing one is no error). */
  remove(paths: readonly string[]): Promise<void>;
  /** Removes everything under a prefix of the portal. */
  removePrefix(prefix: string): Promise<void>;
}

/** How the portal is published. */
export interface PortalOptions {
  /** Where the portal is served; the catalog's IRIs start with it. */
  readonly baseUrl: string;
  readonly publisher: string;
  readonly contactEmail: string;
  /** A scratch folder for the files before they are put. */
  readonly workDir: string;
  /** The built dashboard page, copied under dashboard/ with its data as files. @default - none: no dashboard copy */
  readonly webAssetsDir?: string;
  /** The map's city and centre. @default - the publisher, at the centre of the open datasets' sensors */
  readonly city?: DashboardSnapshot['city'];
  /** Map tiles of the dashboard copy. @default null - the city's outline on a plain background */
  readonly tiles?: TileConfig | null;
  /** @default - now */
  readonly now?: Date;
  /** @default the registry */
  readonly datasets?: readonly Dataset[];
}

/** What a run published. */
export interface PortalSummary {
  readonly datasets: readonly { readonly id: string; readonly days: number; readonly rows: number; readonly written: number; readonly removed: number }[];
  /** Files the catalog lists. */
  readonly files: number;
}

/** The file that remembers which days were written from which curated files, so a run rewrites only what changed. */
export const PORTAL_STATE = 'portal-state.json';

const DayState = z.object({
  signature: z.string(),
  rows: z.number().int().nonnegative(),
  start: z.string().nullable(),
  end: z.string().nullable(),
  csvBytes: z.number().int().nonnegative(),
  parquetBytes: z.number().int().nonnegative(),
  written: z.string(),
});
type DayState = z.infer<typeof DayState>;

const PortalState = z.object({ version: z.literal(1), datasets: z.record(z.string(), z.record(z.string(), DayState)) });
type PortalState = z.infer<typeof PortalState>;

/** The state a previous run left; an unreadable one is no state (every day is written again). */
function parseState(text: string | undefined): PortalState {
  if (text === undefined) return { version: 1, datasets: {} };
  try {
    return PortalState.parse(JSON.parse(text));
  } catch {
    return { version: 1, datasets: {} };
  }
}

const TEXT = (type: string) => `${type}; charset=utf-8`;

/** Paths of a dataset's files in the portal. */
export const portalPaths = {
  day: (datasetId: string, day: string, format: 'csv' | 'parquet') => `data/${datasetId}/${datasetId}-${day}.${format}`,
  places: (datasetId: string) => `data/${datasetId}/${datasetId}-sensors.csv`,
  views: (datasetId: string) => `data/${datasetId}/${datasetId}-views.sql`,
} as const;

/** Writes (or brings up to date) the portal of the open datasets. */
export async function publishPortal(source: PortalSource, sink: PortalSink, conn: DuckDBConnection, options: PortalOptions): Promise<PortalSummary> {
  const now = options.now ?? new Date();
  // Only open datasets are ever read: the rest of this function sees no other.
  const open = visibleDatasets('public', options.datasets ?? registry);
  await conn.run("SET TimeZone = 'UTC'");
  const state = parseState(await sink.getText(PORTAL_STATE));
  const since = now.getTime() - WINDOW_HOURS * 3_600_000;
  const recent = new Set([now.toISOString().slice(0, 10), new Date(since).toISOString().slice(0, 10)]);
  const aggregates = options.webAssetsDir === undefined ? undefined : new DashboardAggregates({ datasets: open, now: () => now.getTime() });
  const facts: DatasetFacts[] = [];
  const summary: PortalSummary['datasets'][number][] = [];
  const allPlaces: SensorPlace[] = [];

  for (const dataset of open) {
    const previous = state.datasets[dataset.id] ?? {};
    const next: Record<string, DayState> = {};
    const files: DistributionFile[] = [];
    let written = 0;
    for (const listed of (await source.days(dataset.id)).sort((a, b) => a.day.localeCompare(b.day))) {
      const known = previous[listed.day];
      const changed = known?.signature !== listed.signature;
      const summarise = aggregates !== undefined && recent.has(listed.day);
      let dayState = known;
      if (changed || summarise) {
        const result = await readDay(source, dataset, listed, async (parquet, signature) => {
          const day = changed ? await writeDay(conn, sink, dataset, listed.day, parquet, signature, options.workDir, now) : known;
          if (summarise) aggregates?.add(await summariseFiles(conn, dataset, parquet, since));
          return day;
        });
        // A day whose files went meanwhile (retention) is no longer published.
        if (result === undefined) continue;
        dayState = result;
        if (changed) written += 1;
      }
      if (!dayState) continue;
      next[listed.day] = dayState;
      for (const format of ['CSV', 'PARQUET'] as const) {
        const path = portalPaths.day(dataset.id, listed.day, format === 'CSV' ? 'csv' : 'parquet');
        files.push({ path, format, bytes: format === 'CSV' ? dayState.csvBytes : dayState.parquetBytes, content: { kind: 'day', day: listed.day, rows: dayState.rows } });
      }
    }
    // Days whose curated files are gone (past the dataset's retention) leave the portal too.
    const gone = Object.keys(previous).filter((day) => next[day] === undefined);
    await sink.remove(gone.flatMap((day) => [portalPaths.day(dataset.id, day, 'csv'), portalPaths.day(dataset.id, day, 'parquet')]));
    state.datasets[dataset.id] = next;

    const places = await source.places([dataset.id]);
    allPlaces.push(...places);
    aggregates?.setPlaces(places);
    const placesCsv = placesText(places);
    await sink.putText(portalPaths.places(dataset.id), placesCsv, TEXT(MEDIA_TYPES.CSV));
    files.push({ path: portalPaths.places(dataset.id), format: 'CSV', bytes: Buffer.byteLength(placesCsv), content: { kind: 'places', rows: places.length } });
    const sql = viewsSql(dataset, Object.keys(next).length > 0);
    await sink.putText(portalPaths.views(dataset.id), sql, TEXT(MEDIA_TYPES.SQL));
    files.push({ path: portalPaths.views(dataset.id), format: 'SQL', bytes: Buffer.byteLength(sql), content: { kind: 'views' } });

    const days = Object.values(next);
    const starts = days.flatMap((d) => (d.start ? [d.start] : [])).sort();
    const ends = days.flatMap((d) => (d.end ? [d.end] : [])).sort();
    const start = starts[0];
    const end = ends.at(-1);
    const bbox = boundingBox(places);
    facts.push({ dataset, files, ...(start && end ? { temporal: { start, end } } : {}), ...(bbox ? { bbox } : {}) });
    summary.push({ id: dataset.id, days: days.length, rows: days.reduce((sum, d) => sum + d.rows, 0), written, removed: gone.length });
  }
  // A dataset published before and no longer open (reclassified, removed) leaves the portal whole.
  for (const id of Object.keys(state.datasets)) {
    if (open.some((d) => d.id === id)) continue;
    await sink.removePrefix(`data/${id}/`);
    await sink.remove([`dashboard/api/series/${id}.json`]);
  }
  state.datasets = Object.fromEntries(Object.entries(state.datasets).filter(([id]) => open.some((d) => d.id === id)));

  // The catalog changed when its newest file did.
  const writtenAt = Object.values(state.datasets).flatMap((days) => Object.values(days).map((d) => Date.parse(d.written)));
  const modified = new Date(writtenAt.length > 0 ? Math.max(...writtenAt) : now.getTime());
  const quads = catalogQuads(facts, { baseUrl: options.baseUrl, publisher: options.publisher, contactEmail: options.contactEmail, modified });
  await sink.putText('catalog.ttl', await catalogTurtle(quads), TEXT('text/turtle'));
  await sink.putText('catalog.jsonld', `${JSON.stringify(catalogJsonLd(quads), null, 1)}\n`, TEXT('application/ld+json'));
  await sink.putText('index.html', portalPage(facts, { publisher: options.publisher, generated: now, dashboard: aggregates !== undefined }), TEXT('text/html'));
  if (aggregates && options.webAssetsDir) {
    const centre = boundingBox(allPlaces);
    const city = options.city ?? { name: options.publisher, latitude: centre ? (centre.minLat + centre.maxLat) / 2 : 0, longitude: centre ? (centre.minLon + centre.maxLon) / 2 : 0 };
    await publishDashboard(sink, aggregates, open, options.webAssetsDir, { city, tiles: options.tiles ?? null });
  }
  await sink.putText(PORTAL_STATE, `${JSON.stringify(state)}\n`, 'application/json');
  return { datasets: summary, files: facts.reduce((sum, f) => sum + f.files.length, 0) };
}

/**
 * Fetches a day's files and hands them to `use`, releasing them after. When
 * reading fails because the files changed meanwhile (compaction swapped them,
 * retention removed them), the day is listed again and tried once more;
 * undefined when it is gone.
 */
async function readDay<T>(source: PortalSource, dataset: Dataset, listed: SourceDay, use: (files: readonly string[], signature: string) => Promise<T>): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    const current = attempt === 0 ? listed : (await source.days(dataset.id)).find((d) => d.day === listed.day);
    if (!current) return undefined;
    const fetched = await source.fetch(dataset.id, current.day);
    try {
      return await use(fetched.files, current.signature);
    } catch (error) {
      const again = (await source.days(dataset.id)).find((d) => d.day === listed.day);
      if (attempt > 0 || again?.signature === current.signature) throw error;
    } finally {
      await fetched.release();
    }
  }
}

/** The published columns of a dataset: the curated table's, instants in UTC, and the event date. */
function publishedSelect(dataset: Dataset, parquet: readonly string[], day: string): string {
  const columns = curatedColumns(dataset).map((c) => (c.kind === 'timestamp' ? `timezone('UTC', ${quoteIdent(c.name)}) AS ${quoteIdent(c.name)}` : quoteIdent(c.name)));
  return `SELECT ${columns.join(', ')}, DATE ${quoteString(day)} AS "dt" FROM read_parquet([${parquet.map(quoteString).join(', ')}], schema = ${parquetSchemaSql(dataset)}) ORDER BY "sensor_id", "ts"`;
}

async function writeDay(conn: DuckDBConnection, sink: PortalSink, dataset: Dataset, day: string, parquet: readonly string[], signature: string, workDir: string, now: Date): Promise<DayState> {
  const csv = join(workDir, `${dataset.id}-${day}.csv`);
  const out = join(workDir, `${dataset.id}-${day}.parquet`);
  try {
    const select = publishedSelect(dataset, parquet, day);
    await conn.run(`COPY (${select}) TO ${quoteString(csv)} (FORMAT csv, HEADER, TIMESTAMPFORMAT '%Y-%m-%dT%H:%M:%S.%fZ')`);
    // Snappy: the codec every Parquet reader reads; a reuser's may lack zstd.
    await conn.run(`COPY (${select}) TO ${quoteString(out)} (FORMAT parquet, COMPRESSION snappy)`);
    const row = (await conn.runAndReadAll(`SELECT count(*), strftime(min("ts"), '%Y-%m-%dT%H:%M:%SZ'), strftime(max("ts"), '%Y-%m-%dT%H:%M:%SZ') FROM read_parquet(${quoteString(out)})`)).getRowsJS()[0] ?? [];
    await sink.putFile(portalPaths.day(dataset.id, day, 'csv'), csv, TEXT(MEDIA_TYPES.CSV));
    await sink.putFile(portalPaths.day(dataset.id, day, 'parquet'), out, MEDIA_TYPES.PARQUET);
    const text = (v: unknown) => (typeof v === 'string' ? v : null);
    return {
      signature,
      rows: Number(row[0] ?? 0),
      start: text(row[1]),
      end: text(row[2]),
      csvBytes: (await stat(csv)).size,
      parquetBytes: (await stat(out)).size,
      written: now.toISOString(),
    };
  } finally {
    await rm(csv, { force: true });
    await rm(out, { force: true });
  }
}

/** A CSV field, quoted when it needs to be. */
function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The places CSV: sensor, name, address, latitude, longitude. */
function placesText(places: readonly SensorPlace[]): string {
  const lines = ['sensor_id,name,address,latitude,longitude', ...places.map((p) => [p.sensor_id, p.name, p.address, p.latitude, p.longitude].map(csvField).join(','))];
  return `${lines.join('\n')}\n`;
}

function boundingBox(places: readonly SensorPlace[]): BoundingBox | undefined {
  if (places.length === 0) return undefined;
  return {
    minLon: Math.min(...places.map((p) => p.longitude)),
    minLat: Math.min(...places.map((p) => p.latitude)),
    maxLon: Math.max(...places.map((p) => p.longitude)),
    maxLat: Math.max(...places.map((p) => p.latitude)),
  };
}

/**
 * The SQL of a dataset's views over the portal's own files, for DuckDB: the
 * dataset as a table over its daily Parquet files, its sensors from the
 * places CSV, and the views both engines of the platform define, by the same
 * SQL. Run in the dataset's folder of the portal.
 */
export function viewsSql(dataset: Dataset, hasDays: boolean): string {
  const id = dataset.id;
  const typed = (kind: keyof typeof DUCKDB_TYPES) => (kind === 'timestamp' ? 'TIMESTAMPTZ' : DUCKDB_TYPES[kind]);
  const table = hasDays
    ? `SELECT * FROM read_parquet(${quoteString(`${id}-*.parquet`)})`
    : `SELECT ${curatedColumns(dataset).map((c) => `CAST(NULL AS ${typed(c.kind)}) AS ${quoteIdent(c.name)}`).join(', ')}, CAST(NULL AS DATE) AS "dt" WHERE false`;
  const places = `SELECT ${quoteString(id)} AS "dataset", * FROM read_csv(${quoteString(portalPaths.places(id).split('/').at(-1) ?? '')}, header = true, columns = {'sensor_id': 'VARCHAR', 'name': 'VARCHAR', 'address': 'VARCHAR', 'latitude': 'DOUBLE', 'longitude': 'DOUBLE'})`;
  return [
    `-- ${dataset.nl.title} / ${dataset.title}: the dataset, its sensors and its views over this portal's files, in DuckDB.`,
    `-- Run in this folder with its files beside it: duckdb -init ${id}-views.sql`,
    '',
    `CREATE OR REPLACE VIEW ${quoteIdent(id)} AS\n${table};`,
    '',
    `CREATE OR REPLACE VIEW ${quoteIdent(PLACES_TABLE)} AS\n${places};`,
    '',
    ...allViews([dataset]).map((v) => `-- ${v.description}\nCREATE OR REPLACE VIEW ${quoteIdent(v.name)} AS\n${v.sql};\n`),
  ].join('\n');
}

/** The media types of the dashboard's built files. */
const ASSET_TYPES: Readonly<Record<string, string>> = { '.html': TEXT('text/html'), '.js': TEXT('text/javascript'), '.css': TEXT('text/css'), '.png': 'image/png', '.svg': 'image/svg+xml' };

/** A static copy of the public dashboard: the page, and its data as files where the served one has endpoints. */
async function publishDashboard(sink: PortalSink, aggregates: DashboardAggregates, open: readonly Dataset[], assets: string, settings: { city: DashboardSnapshot['city']; tiles: TileConfig | null }): Promise<void> {
  for (const name of await readdir(assets)) {
    const type = ASSET_TYPES[/\.[a-z]+$/.exec(name)?.[0] ?? ''];
    if (type) await sink.putFile(`dashboard/${name}`, join(assets, name), type);
  }
  const snapshot = aggregates.snapshot('public', { live: false, tiles: settings.tiles, city: settings.city });
  await sink.putText('dashboard/api/dashboard.json', JSON.stringify(snapshot), TEXT('application/json'));
  for (const dataset of open) {
    const series = aggregates.series('public', dataset.id);
    if (series) await sink.putText(`dashboard/api/series/${dataset.id}.json`, JSON.stringify(series), TEXT('application/json'));
  }
}

/** A signature of a day's files: their names, sizes and modification times (or ETags). */
export function filesSignature(files: readonly { readonly name: string; readonly bytes: number; readonly version: string }[]): string {
  const hash = createHash('sha256');
  for (const file of [...files].sort((a, b) => a.name.localeCompare(b.name))) hash.update(`${file.name}\0${file.bytes}\0${file.version}\n`);
  return hash.digest('hex');
}
