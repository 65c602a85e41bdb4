import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, basename, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { registry } from '../../datasets/index.ts';
import { quoteIdent, quoteString } from '../../functions/core/columns.ts';
import { allViews, quarantineViewName } from '../../glue/views.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { DataDirNotFoundError, placesViewSql, quarantineViewSql, tableViewSql } from '../../local/query.ts';
import { PLACES_TABLE } from '../../functions/core/places.ts';
import { parse, UsageError } from '../args.ts';

export const BI_USAGE = `Usage: datastroom bi <FILE.duckdb> [--data-dir DIR]

Writes a DuckDB database file holding the platform's views under the names
they have on Athena: a table per dataset, <id>_hourly and <id>_quarantine.
The views read the curated and quarantine zones by absolute path, so the file
can be opened from anywhere on this machine by DuckDB's ODBC or JDBC driver
(Power BI, Excel, DBeaver, Tableau) and always shows the data as it is now,
new days included. The file holds views only, no data, and is made
read-only: open it read-only (access_mode=READ_ONLY), so several tools can
use it at once. Run the command again after adding a dataset, and for a
dataset that had no data yet when it ran (its view is then empty).`;

/** `datastroom bi FILE`: returns the exit status. */
export async function biCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv, {}, true);
  if (values.help) {
    process.stdout.write(`${BI_USAGE}\n`);
    return 0;
  }
  const [target] = positionals;
  if (target === undefined || positionals.length !== 1) throw new UsageError(`bi takes the database file to write\n\n${BI_USAGE}`);
  const file = resolve(target);
  const layout = dataDirLayout(values['data-dir']);
  const info = await stat(layout.root).catch(() => undefined);
  if (!info?.isDirectory()) throw new DataDirNotFoundError(layout.root, info ? 'it is a file' : 'it does not exist');
  if (file.startsWith(layout.root + '/')) throw new UsageError(`write the database file outside the data directory (${layout.root}): BI tools read from there, the platform owns it`);

  await mkdir(dirname(file), { recursive: true });
  const partial = join(dirname(file), `.${basename(file)}.${process.pid}.partial`);
  const empty: string[] = [];
  const instance = await DuckDBInstance.create(partial);
  try {
    const conn = await instance.connect();
    for (const dataset of registry) {
      const table = await tableViewSql(dataset, layout.root);
      if (table.endsWith('WHERE false')) empty.push(dataset.id);
      await conn.run(`CREATE VIEW ${quoteIdent(dataset.id)} AS ${table}`);
      await conn.run(`COMMENT ON VIEW ${quoteIdent(dataset.id)} IS ${quoteString(`${dataset.title}: ${dataset.description} (dt: event date, UTC; ts: event time)`)}`);
      const quarantine = quarantineViewName(dataset);
      await conn.run(`CREATE VIEW ${quoteIdent(quarantine)} AS ${await quarantineViewSql(dataset, layout.root)}`);
      await conn.run(`COMMENT ON VIEW ${quoteIdent(quarantine)} IS ${quoteString(`${dataset.title}: readings refused, with the reason (dt: arrival date)`)}`);
    }
    await conn.run(`CREATE VIEW ${quoteIdent(PLACES_TABLE)} AS ${await placesViewSql(layout.root)}`);
    await conn.run(`COMMENT ON VIEW ${quoteIdent(PLACES_TABLE)} IS ${quoteString('Where each sensor stands: latitude and longitude (WGS 84), name and address, by dataset')}`);
    for (const view of allViews(registry)) {
      await conn.run(`CREATE VIEW ${quoteIdent(view.name)} AS ${view.sql}`);
      await conn.run(`COMMENT ON VIEW ${quoteIdent(view.name)} IS ${quoteString(view.description)}`);
    }
    conn.closeSync();
    instance.closeSync();
    await chmod(partial, 0o444);
    await rename(partial, file);
  } catch (error) {
    instance.closeSync();
    await rm(partial, { force: true });
    await rm(`${partial}.wal`, { force: true });
    throw error;
  }
  process.stdout.write(
    [
      `wrote ${file}: ${registry.length * 2 + 1 + allViews(registry).length} views over ${layout.root} (read-only; open it with access_mode=READ_ONLY)`,
      ...(empty.length > 0 ? [`no data yet for ${empty.join(', ')}: their views are empty; run datastroom bi again once they have data`] : []),
      '',
    ].join('\n'),
  );
  return 0;
}
