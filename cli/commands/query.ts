import { AthenaClient } from '@aws-sdk/client-athena';
import { AthenaQueryError, runAthenaQuery } from '../../functions/adapters/athena-query.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { FORMATS, formatRows, type OutputFormat } from '../format.ts';
import { parse, UsageError } from '../args.ts';
import { readPlatformOutputs } from '../stack-outputs.ts';

export const QUERY_USAGE = `Usage: datastroom query "<SQL>" [--format table|json|csv] [--param VALUE ...] [--engine local|athena]

Runs SQL on the curated zone. Every dataset is a table or view named by its
id (dt, the event date, is a column); derived views add a suffix, e.g.
air_quality_hourly. The same names exist locally and on Athena.

Locally, query reads the curated and quarantine zones and nothing else: one
SELECT per call (or SHOW, DESCRIBE, SUMMARIZE, EXPLAIN of a SELECT). The raw
zone, the state (pseudonymisation key, devices) and every other file are out
of reach; it writes no files (COPY, EXPORT), attaches no databases, changes no
settings and installs no extensions.

  --engine local     DuckDB over the data dir (default)
  --engine athena    the deployed lake; names from the stack outputs
  --workgroup WG     Athena workgroup: analysts (default), bi, or a name
  --outputs FILE     stack outputs file (default cdk-outputs.json); --stack NAME to choose
  --param VALUE      a value for the next ? in the SQL, passed apart from it (repeatable)
  --format F         table (default), json or csv
  --data-dir DIR     (default .datastroom)

On Athena the scan and its cost ($5 per TB, 10 MB minimum) follow the rows,
on standard error; Ctrl+C stops the query on Athena.`;

const ENGINES = ['local', 'athena'] as const;

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export async function queryCommand(argv: readonly string[], athena: () => AthenaClient = () => new AthenaClient({})): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      format: { type: 'string', short: 'f', default: 'table' },
      engine: { type: 'string', default: 'local' },
      workgroup: { type: 'string' },
      param: { type: 'string', multiple: true },
      outputs: { type: 'string' },
      stack: { type: 'string' },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(`${QUERY_USAGE}\n`);
    return 0;
  }
  const format = values.format as OutputFormat;
  if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got "${values.format}"`);
  const engine = values.engine as (typeof ENGINES)[number];
  if (!ENGINES.includes(engine)) throw new UsageError(`--engine must be one of ${ENGINES.join(', ')}, got "${values.engine}"`);
  if (positionals.length !== 1) throw new UsageError(`query takes one SQL statement in quotes\n\n${QUERY_USAGE}`);
  const sql = positionals[0] as string;
  const params = values.param ?? [];

  if (engine === 'local') {
    const local = await LocalQueryEngine.open(values['data-dir']);
    try {
      const result = await local.query(sql, params);
      process.stdout.write(`${formatRows(format, result.columns, result.rows)}\n`);
    } finally {
      local.close();
    }
    return 0;
  }

  const platform = await readPlatformOutputs({ file: values.outputs, stack: values.stack });
  const role = values.workgroup ?? 'analysts';
  const workgroup = role === 'analysts' || role === 'bi' ? platform.workgroups[role] : role;
  const controller = new AbortController();
  const onInterrupt = () => {
    process.stderr.write('\nstopping the query on Athena...\n');
    controller.abort();
  };
  process.once('SIGINT', onInterrupt);
  try {
    const result = await runAthenaQuery(athena(), {
      sql,
      workgroup,
      database: platform.database,
      parameters: params,
      signal: controller.signal,
      onState: (state) => {
        if (process.stderr.isTTY) process.stderr.write(`\r${state.toLowerCase()}...   `);
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\r');
    process.stdout.write(`${formatRows(format, result.columns, result.rows)}\n`);
    process.stderr.write(
      `scanned ${formatBytes(result.scannedBytes)}, cost $${result.costUsd.toFixed(6)} at $5 per TB (10 MB minimum); query ${result.queryExecutionId} in workgroup ${workgroup}\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof AthenaQueryError && error.state === 'CANCELLED' && controller.signal.aborted) {
      process.stderr.write(`${error.message}\n`);
      return 130;
    }
    throw error;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}
