import { durationSeconds, registry, type Dataset } from '../../datasets/index.ts';
import { quoteIdent } from '../../functions/core/columns.ts';
import { CONFIG_DEFAULTS } from '../../infra/config.ts';
import { quarantineViewName } from '../../glue/views.ts';
import { LocalQueryEngine, TimeCell, type Cell, type ResultColumn } from '../../local/query.ts';
import { choiceOption, parse } from '../args.ts';
import { FORMATS, rowWriter, TextOut } from '../output.ts';

export const STATUS_USAGE = `Usage: datastroom status [--format table|json|csv|jsonl] [--data-dir DIR]

Per dataset, at a glance: the rows curated, the last reading (its event time,
UTC) and its age against the dataset's update frequency, and the readings
quarantined in the last 24 hours with their share of all readings received
then. A dataset is "late" once its last reading is older than
${CONFIG_DEFAULTS.freshnessIntervals} update intervals (the freshness alarm's default on AWS).`;

const COLUMNS: readonly ResultColumn[] = [
  { name: 'dataset', kind: 'text' },
  { name: 'rows', kind: 'integer' },
  { name: 'last_reading', kind: 'instant' },
  { name: 'age', kind: 'text' },
  { name: 'updates_every', kind: 'text' },
  { name: 'state', kind: 'text' },
  { name: 'quarantined_24h', kind: 'integer' },
  { name: 'quarantine_rate_24h', kind: 'text' },
];

/** A duration in the largest whole unit that reads well: 45 s, 12 min, 3 h, 2 d. */
export function humanDuration(seconds: number): string {
  if (seconds < 120) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

/**
 * The status SQL of one dataset: rows, last event time, readings curated and
 * quarantined in the last 24 hours. Curated readings of the last day are
 * counted in the partitions of the last two event dates, so the count reads
 * two days of files, not the whole history.
 */
function statusSql(dataset: Dataset): string {
  const table = quoteIdent(dataset.id);
  const quarantine = quoteIdent(quarantineViewName(dataset));
  return [
    `SELECT (SELECT count(*) FROM ${table}) AS rows, (SELECT max(ts) FROM ${table}) AS last_reading,`,
    `  (SELECT count(*) FROM ${table} WHERE dt >= current_date - 1 AND received_at >= now() - INTERVAL 24 HOUR) AS curated_24h,`,
    `  (SELECT count(*) FROM ${quarantine} WHERE dt >= current_date - 1 AND received_at >= now() - INTERVAL 24 HOUR) AS quarantined_24h`,
  ].join('\n');
}

/** One status row of a dataset. */
export async function datasetStatus(engine: LocalQueryEngine, dataset: Dataset, now = Date.now()): Promise<Cell[]> {
  const answer = await engine.stream(statusSql(dataset));
  let row: Cell[] = [];
  for await (const batch of answer.batches()) row = batch[0] ?? row;
  const [rows, last, curated, quarantined] = row;
  const count = (v: Cell | undefined) => (typeof v === 'number' ? v : Number(v ?? 0));
  const every = durationSeconds(dataset.governance.updateFrequency) ?? 0;
  const age = last instanceof TimeCell ? (now - Number(last.micros / 1000n)) / 1000 : undefined;
  const state = age === undefined ? 'no data' : age > every * CONFIG_DEFAULTS.freshnessIntervals ? 'late' : 'fresh';
  const received = count(curated) + count(quarantined);
  return [
    dataset.id,
    count(rows),
    last instanceof TimeCell ? last : null,
    age === undefined ? null : humanDuration(age),
    humanDuration(every),
    state,
    count(quarantined),
    received === 0 ? null : `${((count(quarantined) / received) * 100).toFixed(1)}%`,
  ];
}

/** `datastroom status`: returns the exit status. */
export async function statusCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, { format: { type: 'string', short: 'f' } }, false);
  if (values.help) {
    process.stdout.write(`${STATUS_USAGE}\n`);
    return 0;
  }
  const format = choiceOption('format', values.format, FORMATS, 'table');
  const engine = await LocalQueryEngine.open(values['data-dir']);
  try {
    const rows: Cell[][] = [];
    for (const dataset of registry) rows.push(await datasetStatus(engine, dataset));
    const writer = rowWriter(format, new TextOut(process.stdout), COLUMNS, { maxRows: rows.length });
    await writer.write(rows);
    await writer.end();
  } finally {
    engine.close();
  }
  return 0;
}
