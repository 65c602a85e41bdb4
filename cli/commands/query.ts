import type { AthenaClient } from '@aws-sdk/client-athena';
import { CLASSIFICATIONS, registry, type Classification } from '../../datasets/index.ts';
import { readPolicyName, WORKGROUP_ROLES, workgroupKey } from '../../infra/names.ts';
import { LocalQueryEngine, QueryError, viewCatalog, type Cell, type QueryStream, type ResultColumn } from '../../local/query.ts';
import { choiceOption, intOption, parse, suggestion, UsageError } from '../args.ts';
import { CSV_DEFAULT, CSV_EXCEL, DEFAULT_TABLE_ROWS, FORMATS, OutputClosedError, rowWriter, TextOut, writeRows, type CsvStyle, type OutputFormat } from '../output.ts';
import { athenaLiteral, parseParam } from '../params.ts';

export const QUERY_USAGE = `Usage: datastroom query "<SQL>" [--format table|json|csv|jsonl] [--param VALUE ...] [--output FILE] [--engine local|athena]

Runs SQL on the curated zone. Every dataset is a table named by its id;
<id>_hourly gives readings and aggregates per sensor and hour (in UTC and in
Europe/Brussels), <id>_quarantine the refused readings with their reasons.
dt, the event date (UTC), is a DATE: filter on it and only that day's files
are read. ts and received_at are instants, shown in UTC; local time is
CAST(ts AT TIME ZONE 'Europe/Brussels' AS timestamp) on both engines. The
same names exist locally and on Athena.

Locally, query reads the curated and quarantine zones and nothing else: one
SELECT per call (or SHOW, DESCRIBE, SUMMARIZE, EXPLAIN of a SELECT). The raw
zone, the state (pseudonymisation key, devices) and every other file are out
of reach; it writes no files (COPY, EXPORT), attaches no databases, changes no
settings and installs no extensions. Exports are written by datastroom itself
(--output).

  --format F         table (default; the first --max-rows rows), csv, json (an
                     array) or jsonl (one object per line): rows are written as
                     they arrive, an answer of any size in constant memory
  --max-rows N       rows a table shows (default ${DEFAULT_TABLE_ROWS})
  --param VALUE      a value for the next ? in the SQL, passed apart from it
                     (repeatable); typed by its form on both engines: 42, 12.5,
                     true, 2026-11-29 (a date), 2026-11-29T10:00:00Z (an
                     instant); anything else, or anything in 'quotes', is text
  --output FILE      write the answer to FILE: .csv, .xlsx (Excel, typed
                     cells), .parquet, .json or .jsonl (or name it with --format)
  --separator S      CSV field separator (default ,)
  --decimal . | ,    CSV decimal mark (default .)
  --bom              CSV starts with a byte order mark (UTF-8 for Excel)
  --excel            CSV as Excel in Belgium opens it: --separator ";" --decimal , --bom
  --engine local     DuckDB over the data dir (default)
  --engine athena    the deployed lake; names from the stack outputs
  --workgroup WG     Athena workgroup: a purpose, analysts (default) or bi; a
                     purpose and tier (analysts-closed); or a full name. Each
                     classification tier has its own workgroups, whose results
                     only that tier's readers can read
  --tier T           the tier of your read policy: open, shared or closed
                     (default: the most closed tier whose workgroup you may use)
  --outputs FILE     stack outputs file (default cdk-outputs.json); --stack NAME to choose
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

/** The CSV style the options ask for. */
function csvStyle(values: { excel?: boolean; separator?: string; decimal?: string; bom?: boolean }): CsvStyle {
  const base = values.excel ? CSV_EXCEL : CSV_DEFAULT;
  const separator = values.separator === '\\t' ? '\t' : (values.separator ?? base.separator);
  if (separator.length !== 1 || /["\r\n]/.test(separator)) throw new UsageError(`--separator must be one character other than a quote or a line break, got "${values.separator}"`);
  const decimal = choiceOption('decimal', values.decimal, ['.', ','] as const, base.decimal);
  if (decimal === separator) throw new UsageError(`--decimal ${decimal} needs another separator than "${separator}", e.g. --separator ";"`);
  return { separator, decimal, bom: values.bom || base.bom, spreadsheetTimes: base.spreadsheetTimes };
}

/** An unknown table named with the platform's own names (DuckDB would suggest only what this query defined). */
function explainUnknownTable(error: QueryError): QueryError {
  const m = /^Catalog Error: Table with name ([^\s!]+) does not exist!/.exec(error.message);
  if (!m) return error;
  const name = m[1] ?? '';
  const known = viewCatalog(registry, '.').names;
  return new QueryError(
    `no table or view named ${name}${suggestion(name, known)}: the tables are the dataset ids (${registry.map((d) => d.id).join(', ')}), each with <id>_hourly and <id>_quarantine views (npx datastroom datasets lists them)`,
  );
}

/** Writes an answer to standard output or a file; returns the number of rows. */
async function deliver(answer: QueryStream, target: { file?: string; format: OutputFormat | undefined; exportFormat?: string; maxRows: number; csv: CsvStyle }): Promise<number> {
  if (target.file !== undefined) {
    // Loaded only for an export: the workbook and Parquet writers take longer to load than a query to answer.
    const { exportFormatOf, exportRows } = await import('../export.ts');
    const format = exportFormatOf(target.file, target.exportFormat);
    const rows = await exportRows(target.file, answer.columns, answer.batches(), { format, csv: target.csv });
    process.stderr.write(`wrote ${rows.toLocaleString('en-US')} row${rows === 1 ? '' : 's'} to ${target.file} (${format})\n`);
    return rows;
  }
  const writer = rowWriter(target.format ?? 'table', new TextOut(process.stdout), answer.columns, { maxRows: target.maxRows, csv: target.csv });
  return writeRows(writer, answer.batches());
}

/** Athena's rows as an answer: numbers as numbers, the rest as Athena's text. */
function athenaAnswer(names: readonly string[], rows: readonly (readonly unknown[])[]): QueryStream {
  const columns: ResultColumn[] = names.map((name, i) => ({
    name,
    kind: rows.length > 0 && rows.every((r) => r[i] === null || typeof r[i] === 'number') ? 'number' : 'text',
  }));
  return {
    columns,
    async *batches() {
      for (let i = 0; i < rows.length; i += 2048) {
        yield rows.slice(i, i + 2048).map((row) => row.map((v): Cell => (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : null)));
      }
    },
  };
}

export async function queryCommand(argv: readonly string[], athena?: () => AthenaClient): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      format: { type: 'string', short: 'f' },
      engine: { type: 'string' },
      workgroup: { type: 'string' },
      tier: { type: 'string' },
      param: { type: 'string', multiple: true },
      outputs: { type: 'string' },
      stack: { type: 'string' },
      output: { type: 'string', short: 'o' },
      'max-rows': { type: 'string' },
      separator: { type: 'string' },
      decimal: { type: 'string' },
      bom: { type: 'boolean', default: false },
      excel: { type: 'boolean', default: false },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(`${QUERY_USAGE}\n`);
    return 0;
  }
  const file = values.output;
  let format: OutputFormat | undefined;
  if (file === undefined) {
    format = choiceOption('format', values.format, FORMATS, values.excel ? 'csv' : 'table');
  } else {
    (await import('../export.ts')).exportFormatOf(file, values.format);
  }
  const engine = choiceOption('engine', values.engine, ENGINES, 'local');
  const maxRows = intOption('max-rows', values['max-rows'], DEFAULT_TABLE_ROWS, 1);
  const csv = csvStyle(values);
  if (positionals.length !== 1) throw new UsageError(`query takes one SQL statement in quotes\n\n${QUERY_USAGE}`);
  const sql = positionals[0] as string;
  const params = (values.param ?? []).map(parseParam);
  const target = { file, format, exportFormat: file === undefined ? undefined : values.format, maxRows, csv };

  try {
    if (engine === 'local') {
      const local = await LocalQueryEngine.open(values['data-dir']);
      try {
        await deliver(await local.stream(sql, params), target);
      } catch (error) {
        throw error instanceof QueryError ? explainUnknownTable(error) : error;
      } finally {
        local.close();
      }
      return 0;
    }
    return await athenaQuery(sql, params.map(athenaLiteral), values, target, athena);
  } catch (error) {
    // The reader went away (| head): what it read is all it wanted.
    if (error instanceof OutputClosedError) return 0;
    throw error;
  }
}

/**
 * The workgroup a query runs in: one named outright, or the purpose's
 * workgroup of the tier given, or else of the most closed tier whose
 * workgroup the caller may use (a tier's policy grants its own workgroups only).
 */
async function chooseWorkgroup(
  platform: { readonly envName: string; readonly workgroups: ReadonlyMap<string, string> },
  values: { workgroup?: string; tier?: string },
  usable: (candidates: readonly string[]) => Promise<string | undefined>,
): Promise<string> {
  const requested = values.workgroup ?? 'analysts';
  const role = WORKGROUP_ROLES.find((r) => r === requested);
  const tier = values.tier === undefined ? undefined : choiceOption<Classification>('tier', values.tier, CLASSIFICATIONS, 'open');
  if (role === undefined) {
    if (tier !== undefined) throw new UsageError(`--tier goes with a purpose (--workgroup ${WORKGROUP_ROLES.join(' or ')}), not with --workgroup ${requested}, which names its tier already`);
    return platform.workgroups.get(requested) ?? requested;
  }
  const nameOf = (t: Classification) => {
    const name = platform.workgroups.get(workgroupKey(role, t));
    if (name === undefined) throw new UsageError(`the stack outputs name no ${workgroupKey(role, t)} workgroup: is the stack deployed from this version?`);
    return name;
  };
  if (tier !== undefined) return nameOf(tier);
  const candidates = [...CLASSIFICATIONS].reverse().map(nameOf);
  const chosen = await usable(candidates);
  if (chosen === undefined) {
    throw new UsageError(
      `you may use none of the ${role} workgroups (${candidates.join(', ')}): query with a role holding one of the ${CLASSIFICATIONS.map((t) => readPolicyName(platform.envName, t)).join(', ')} policies`,
    );
  }
  return chosen;
}

async function athenaQuery(
  sql: string,
  parameters: readonly string[],
  values: { outputs?: string; stack?: string; workgroup?: string; tier?: string },
  target: Parameters<typeof deliver>[1],
  athena: (() => AthenaClient) | undefined,
): Promise<number> {
  // Loaded only here: the AWS SDK is the slowest part of a start, and local queries never need it.
  const [{ AthenaClient: Client }, { AthenaQueryError, firstUsableWorkgroup, runAthenaQuery }, { readPlatformOutputs }] = await Promise.all([
    import('@aws-sdk/client-athena'),
    import('../../functions/adapters/athena-query.ts'),
    import('../stack-outputs.ts'),
  ]);
  const platform = await readPlatformOutputs({ file: values.outputs, stack: values.stack });
  const client = athena ? athena() : new Client({});
  const workgroup = await chooseWorkgroup(platform, values, (candidates) => firstUsableWorkgroup(client, candidates));
  const controller = new AbortController();
  const onInterrupt = () => {
    process.stderr.write('\nstopping the query on Athena...\n');
    controller.abort();
  };
  process.once('SIGINT', onInterrupt);
  try {
    const result = await runAthenaQuery(client, {
      sql,
      workgroup,
      database: platform.database,
      parameters,
      signal: controller.signal,
      onState: (state) => {
        if (process.stderr.isTTY) process.stderr.write(`\r${state.toLowerCase()}...   `);
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\r');
    await deliver(athenaAnswer(result.columns, result.rows), target);
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
