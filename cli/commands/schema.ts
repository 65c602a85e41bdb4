import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getDataset, readingJsonSchema, registry, SCHEMA_DIR, type Dataset } from '../../datasets/index.ts';
import { brusselsIso, plausibleReading, seededRandom } from '../../local/readings.ts';
import { parse, UsageError } from '../args.ts';

export const SCHEMA_USAGE = `Usage: datastroom schema <datasetId> | --all DIR | --check DIR

The JSON Schema of one reading of a dataset, for sensor vendors, derived
from the registry. --all DIR writes one file per dataset (npm run docs writes
${SCHEMA_DIR}); --check DIR fails if any file there is out of date.`;

/** The schema text of a dataset, with a fixed example so the file is stable. */
export function schemaText(dataset: Dataset): string {
  const example = plausibleReading(dataset, new Date('2026-11-29T09:00:00Z'), seededRandom(1));
  example.ts = brusselsIso(new Date('2026-11-29T09:00:00Z'));
  return `${JSON.stringify(readingJsonSchema(dataset, example), null, 2)}\n`;
}

export async function schemaCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv, { all: { type: 'string' }, check: { type: 'string' } }, true);
  if (values.help) {
    process.stdout.write(`${SCHEMA_USAGE}\n`);
    return 0;
  }
  if (values.all !== undefined) {
    await mkdir(values.all, { recursive: true });
    for (const d of registry) await writeFile(join(values.all, `${d.id}.schema.json`), schemaText(d));
    return 0;
  }
  if (values.check !== undefined) {
    const stale: string[] = [];
    for (const d of registry) {
      const file = join(values.check, `${d.id}.schema.json`);
      const current = await readFile(file, 'utf8').catch(() => '');
      if (current !== schemaText(d)) stale.push(file);
    }
    if (stale.length > 0) throw new Error(`out of date (run npm run docs): ${stale.join(', ')}`);
    return 0;
  }
  const [id] = positionals;
  if (id === undefined || positionals.length !== 1) throw new UsageError(`schema takes one dataset id\n\n${SCHEMA_USAGE}`);
  process.stdout.write(schemaText(getDataset(id)));
  return 0;
}
