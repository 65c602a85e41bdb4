import { LocalQueryEngine } from '../../local/query.ts';
import { FORMATS, formatRows, type OutputFormat } from '../format.ts';
import { parse, UsageError } from '../args.ts';

export const QUERY_USAGE = `Usage: datastroom query "<SQL>" [--format table|json|csv] [--data-dir DIR]

Runs SQL on the curated zone with DuckDB. Every dataset is a view named by its
id (dt, the event date, is a column); derived views add a suffix, e.g.
air_quality_hourly. The SQL of the derived views also runs on Athena.`;

export async function queryCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv, { format: { type: 'string', short: 'f', default: 'table' } }, true);
  if (values.help) {
    process.stdout.write(`${QUERY_USAGE}\n`);
    return 0;
  }
  const format = values.format as OutputFormat;
  if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got "${values.format}"`);
  if (positionals.length !== 1) throw new UsageError(`query takes one SQL statement in quotes\n\n${QUERY_USAGE}`);
  const engine = await LocalQueryEngine.open(values['data-dir']);
  try {
    const result = await engine.query(positionals[0] as string);
    process.stdout.write(`${formatRows(format, result.columns, result.rows)}\n`);
  } finally {
    engine.close();
  }
  return 0;
}
