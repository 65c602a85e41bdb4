import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { registry } from '../../datasets/index.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { DataDirNotFoundError } from '../../local/query.ts';
import { folderPortalSink, localPortalSource } from '../../publish/local.ts';
import { PORTAL_DEFAULTS, PORTAL_STATE, publishPortal } from '../../publish/portal.ts';
import { findWebAssets } from '../../web/assets.ts';
import { visibleDatasets } from '../../web/aggregates.ts';
import { parse, UsageError } from '../args.ts';

export const PUBLISH_USAGE = `Usage: datastroom publish --output DIR [options]

Writes the open-data portal of the open datasets to DIR: per dataset a CSV
and a Parquet file per day (data/<id>/<id>-<day>.csv|parquet), its sensors'
places (data/<id>/<id>-sensors.csv) and DuckDB views over those files
(data/<id>/<id>-views.sql); the DCAT-AP Vlaanderen catalog of them
(catalog.ttl, catalog.jsonld); a page listing them (index.html); and a
static copy of the public dashboard (dashboard/). Shared and closed datasets
are never read. Run it again to bring DIR up to date: only days whose
curated files changed are written again, days gone from the lake go.

  --output DIR        the portal folder: new, empty, or one publish wrote before
  --base-url URL      where DIR will be served; the catalog's links start with it
                      (default: DIR as a file:// URL, to browse it on this machine)
  --publisher NAME    the city publishing it (default "${PORTAL_DEFAULTS.publisher}")
  --contact EMAIL     the catalog's contact mailbox (default ${PORTAL_DEFAULTS.contactEmail})
  --no-dashboard      leave out the static copy of the dashboard
  --data-dir DIR      the local platform's data (default .datastroom)`;

const OPTIONS = {
  output: { type: 'string' },
  'base-url': { type: 'string' },
  publisher: { type: 'string' },
  contact: { type: 'string' },
  'no-dashboard': { type: 'boolean', default: false },
} as const;

/** The base URL of the portal: http(s) or file, ending in a slash. */
function baseUrlOption(value: string | undefined, output: string): string {
  if (value === undefined) return `${pathToFileURL(output).href}/`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--base-url must be an absolute URL such as https://opendata.stad.be/, got "${value}"`);
  }
  if (!['https:', 'http:', 'file:'].includes(url.protocol)) throw new UsageError(`--base-url must be an https, http or file URL, got "${value}"`);
  if (url.search !== '' || url.hash !== '') throw new UsageError(`--base-url is where the folder is served: no query or fragment, got "${value}"`);
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `datastroom publish --output DIR`: returns the exit status. */
export async function publishCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS, false);
  if (values.help) {
    process.stdout.write(`${PUBLISH_USAGE}\n`);
    return 0;
  }
  if (values.output === undefined || values.output.trim() === '') throw new UsageError(`publish needs --output DIR, the portal folder to write\n\n${PUBLISH_USAGE}`);
  const output = resolve(values.output);
  const contact = values.contact ?? PORTAL_DEFAULTS.contactEmail;
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(contact)) throw new UsageError(`--contact must be an email address, got "${contact}"`);
  const publisher = values.publisher ?? PORTAL_DEFAULTS.publisher;
  if (publisher.trim() === '') throw new UsageError('--publisher must name the city');
  const baseUrl = baseUrlOption(values['base-url'], output);

  const layout = dataDirLayout(values['data-dir']);
  const info = await stat(layout.root).catch(() => undefined);
  if (!info?.isDirectory()) throw new DataDirNotFoundError(layout.root, info ? 'it is a file' : 'it does not exist');
  if (output === layout.root || output.startsWith(layout.root + sep) || layout.root.startsWith(output + sep)) {
    throw new UsageError(`write the portal outside the data directory (${layout.root}) and not around it: the platform owns that folder`);
  }
  const existing = await stat(output).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new UsageError(`--output ${output} is a file: name a folder`);
  const entries = existing ? await readdir(output) : [];
  if (entries.length > 0 && !entries.includes(PORTAL_STATE)) {
    throw new UsageError(`--output ${output} holds files publish did not write (no ${PORTAL_STATE}): name a new or empty folder, so nothing of yours is replaced or removed`);
  }

  const webAssetsDir = values['no-dashboard'] ? undefined : findWebAssets();
  const workDir = await mkdtemp(join(tmpdir(), 'datastroom-publish-'));
  const instance = await DuckDBInstance.create(':memory:');
  try {
    const conn = await instance.connect();
    const summary = await publishPortal(localPortalSource(layout), folderPortalSink(output), conn, { baseUrl, publisher, contactEmail: contact, workDir, webAssetsDir });
    conn.closeSync();
    const left = registry.filter((d) => !visibleDatasets('public').includes(d));
    process.stdout.write(
      [
        `published ${summary.datasets.length} open datasets to ${output} (${summary.files} files in the catalog):`,
        ...summary.datasets.map((d) => `  ${d.id.padEnd(20)} ${plural(d.days, 'day')}, ${plural(d.rows, 'row')}; ${plural(d.written, 'day')} written${d.removed > 0 ? `, ${plural(d.removed, 'day')} removed` : ''}`),
        `catalog: ${join(output, 'catalog.ttl')} and catalog.jsonld (DCAT-AP Vlaanderen); page: ${join(output, 'index.html')}`,
        ...(webAssetsDir ? [`dashboard: ${join(output, 'dashboard', 'index.html')} (the open datasets' last 24 hours, as of now)`] : values['no-dashboard'] ? [] : ['no dashboard copy: its page is not built (npm run build)']),
        `not published: ${left.map((d) => `${d.id} (${d.governance.classification})`).join(', ')}`,
        '',
      ].join('\n'),
    );
  } finally {
    instance.closeSync();
    await rm(workDir, { recursive: true, force: true });
  }
  return 0;
}
