import { readFile, writeFile } from 'node:fs/promises';
import { CostOptionError, estimateMonthlyCost, FLEET_DEFAULTS, type CostEstimate, type FleetOptions } from '../../cost/estimate.ts';
import { parse, UsageError } from '../args.ts';
import { formatRows } from '../format.ts';

export const COST_USAGE = `Usage: datastroom cost [--sensors N] [options]   the monthly AWS cost of a fleet, line by line

  --sensors N                 sensors in all, spread evenly over the datasets (default ${FLEET_DEFAULTS.sensors})
  --per-dataset ID=N,...      sensors of named datasets; the rest are spread over the others
  --readings-per-interval N   readings each sensor takes per interval (default ${FLEET_DEFAULTS.readingsPerInterval})
  --interval S|registry       the interval in seconds, or each dataset's update frequency (default ${FLEET_DEFAULTS.intervalSeconds})
  --readings-per-message N    readings a sensor sends in one message, as a JSON array (default ${FLEET_DEFAULTS.readingsPerMessage})
  --scanned-gb N              data Athena scans a month, GB (default ${FLEET_DEFAULTS.scannedGbPerMonth})
  --queries N                 Athena queries a month (default ${FLEET_DEFAULTS.queriesPerMonth})
  --quarantine-share X        share of readings quarantined (default ${FLEET_DEFAULTS.quarantineShare})
  --broker                    sensors publish through the message broker instead of by Basic Ingest
  --no-free-tier              leave out AWS's always-free allowances (used up by other workloads)
  --months N                  months the platform has run: how much the lake holds (default ${FLEET_DEFAULTS.monthsRunning})
  --region R                  whose prices apply (default ${FLEET_DEFAULTS.region})
  --portal-gb N               GB the open-data portal serves a month (default ${FLEET_DEFAULTS.portalGbPerMonth})
  --portal-requests N         requests to the open-data portal a month (default ${FLEET_DEFAULTS.portalRequestsPerMonth})
  --json | --markdown         for programs, or the README's section
  --update-doc FILE           rewrite the section between the cost:start and cost:end markers of a
                              Markdown file (npm run docs does so for the README)

The stack's sizing (buffering, function memory, log retention, alarms and metrics per
dataset) is the deployed default; the transform's time per object is the benchmark's
(cost/measured-transform.json, refreshed by npm run bench).`;

const OPTIONS = {
  sensors: { type: 'string' },
  'per-dataset': { type: 'string' },
  'readings-per-interval': { type: 'string' },
  interval: { type: 'string' },
  'readings-per-message': { type: 'string' },
  'scanned-gb': { type: 'string' },
  queries: { type: 'string' },
  'quarantine-share': { type: 'string' },
  broker: { type: 'boolean', default: false },
  'no-free-tier': { type: 'boolean', default: false },
  months: { type: 'string' },
  region: { type: 'string' },
  'portal-gb': { type: 'string' },
  'portal-requests': { type: 'string' },
  json: { type: 'boolean', default: false },
  markdown: { type: 'boolean', default: false },
  'update-doc': { type: 'string' },
} as const;

function numberOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x) || x < 0) throw new UsageError(`--${name} must be a number >= 0, got "${value}"`);
  return x;
}

function perDataset(value: string | undefined): Record<string, number> | undefined {
  if (value === undefined) return undefined;
  const entries = value.split(',').map((part) => {
    const match = /^([a-z][a-z0-9_]*)=(\d+)$/.exec(part.trim());
    if (!match) throw new UsageError(`--per-dataset takes ID=N pairs separated by commas (e.g. air_quality=100,noise=50), got "${part}"`);
    return [match[1] as string, Number(match[2])] as const;
  });
  return Object.fromEntries(entries);
}

/** The fleet the command line describes. */
export function fleetFromArgs(values: { readonly [K in keyof typeof OPTIONS]?: string | boolean }): Partial<FleetOptions> {
  const str = (key: keyof typeof OPTIONS) => {
    const v = values[key];
    return typeof v === 'string' ? v : undefined;
  };
  const interval = str('interval');
  return {
    sensors: numberOption('sensors', str('sensors'), FLEET_DEFAULTS.sensors),
    sensorsPerDataset: perDataset(str('per-dataset')),
    readingsPerInterval: numberOption('readings-per-interval', str('readings-per-interval'), FLEET_DEFAULTS.readingsPerInterval),
    intervalSeconds: interval === 'registry' ? 'registry' : numberOption('interval', interval, Number(FLEET_DEFAULTS.intervalSeconds)),
    readingsPerMessage: numberOption('readings-per-message', str('readings-per-message'), FLEET_DEFAULTS.readingsPerMessage),
    scannedGbPerMonth: numberOption('scanned-gb', str('scanned-gb'), FLEET_DEFAULTS.scannedGbPerMonth),
    queriesPerMonth: numberOption('queries', str('queries'), FLEET_DEFAULTS.queriesPerMonth),
    quarantineShare: numberOption('quarantine-share', str('quarantine-share'), FLEET_DEFAULTS.quarantineShare),
    basicIngest: values.broker !== true,
    freeTier: values['no-free-tier'] !== true,
    monthsRunning: numberOption('months', str('months'), FLEET_DEFAULTS.monthsRunning),
    region: str('region') ?? FLEET_DEFAULTS.region,
    portalGbPerMonth: numberOption('portal-gb', str('portal-gb'), FLEET_DEFAULTS.portalGbPerMonth),
    portalRequestsPerMonth: numberOption('portal-requests', str('portal-requests'), FLEET_DEFAULTS.portalRequestsPerMonth),
  };
}

const usd = (x: number) => `$${x.toFixed(2)}`;

function describeFleet(e: CostEstimate): string {
  const f = e.fleet;
  const interval = f.intervalSeconds === 'registry' ? "each dataset's update frequency" : `${f.intervalSeconds} s`;
  return (
    `${f.sensors} sensors, ${f.readingsPerInterval} reading(s) per ${interval} each, ${f.readingsPerMessage} reading(s) per message ` +
    `(${(e.volumes.readings / 1e6).toFixed(1)} million readings in 30 days), ${f.basicIngest ? 'by Basic Ingest' : 'through the message broker'}; ` +
    `${f.scannedGbPerMonth} GB scanned by Athena; after ${f.monthsRunning} months; ${f.freeTier ? "AWS's always-free allowances counted" : 'no free allowances'}`
  );
}

function stackLine(e: CostEstimate): string {
  const s = e.sizing;
  return `Stack: delivery streams buffer ${s.bufferingSeconds} s or ${s.bufferingMiB} MiB, transform function ${s.functionMemoryMb} MB, publishing function ${s.publishingMemoryMb} MB every ${60 / s.publishingRunsPerHour} minutes, logs kept ${s.logRetentionDays} days.`;
}

function sourcesLine(e: CostEstimate): string {
  return (
    `Prices: ${e.prices.regionName} (${e.prices.region}) list prices as of ${e.prices.checked}; those marked * are still to be held against AWS's pricing pages. ` +
    `Transform time and sizes: measured ${e.measured.measuredAt} on ${e.measured.machine}.`
  );
}

/** The estimate as a text table with the fleet and the sources above it. */
export function costText(e: CostEstimate): string {
  const rows = e.lines.map((l) => [l.service, l.usage, l.basis, usd(l.usd)]);
  rows.push(['total', '', '', usd(e.totalUsd)]);
  return [describeFleet(e), stackLine(e), sourcesLine(e), '', formatRows('table', ['service', 'usage', 'rests on', 'per month'], rows)].join('\n');
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The lines that cost the same for any fleet. */
function fixedUsd(e: CostEstimate): number {
  const fixed = new Set(['CloudWatch metrics', 'CloudWatch alarms', 'KMS', 'Secrets Manager']);
  return e.lines.filter((l) => fixed.has(l.service)).reduce((sum, l) => sum + l.usd, 0);
}

/** The README's cost section: the default fleet's table, each line explained, and what moves the total. */
export function costMarkdown(e: CostEstimate = estimateMonthlyCost()): string {
  const variant = (label: string, options: Partial<FleetOptions>) => `${label}: ${usd(estimateMonthlyCost({ ...e.fleet, ...options }, { measured: e.measured }).totalUsd)}`;
  return [
    `\`npx datastroom cost --sensors ${e.fleet.sensors}\` prints this table (\`--help\` lists the options); \`npm run docs\` writes it here and a test keeps it current.`,
    '',
    `Fleet: ${describeFleet(e)}.`,
    stackLine(e),
    sourcesLine(e),
    '',
    '| service | usage | rests on | per month |',
    '| --- | --- | --- | ---: |',
    ...e.lines.map((l) => `| ${cell(l.service)} | ${cell(l.usage)} | ${cell(l.basis)} | ${usd(l.usd)} |`),
    `| **total** | | | **${usd(e.totalUsd)}** |`,
    '',
    ...e.lines.map((l) => `- **${l.service}**: ${l.why}`),
    '',
    `Of the total, ${usd(fixedUsd(e))} does not grow with the fleet: the CloudWatch metrics and alarms (per dataset, whatever its sensors), the key and the secret.`,
    '',
    'What moves the total (the same fleet otherwise):',
    '',
    `- ${variant('readings sent in arrays of ten (one message every ten minutes)', { readingsPerMessage: 10 })}`,
    `- ${variant("without AWS's always-free allowances (`--no-free-tier`)", { freeTier: false })}`,
    `- ${variant('through the message broker instead of Basic Ingest (`--broker`)', { basicIngest: false })}`,
    `- ${variant('1,000 sensors', { sensors: e.fleet.sensors * 2 })}`,
  ].join('\n');
}

const START = '<!-- cost:start -->';
const END = '<!-- cost:end -->';

/** A Markdown document with the cost section between its markers replaced by the current one. */
export function withCostSection(doc: string, e: CostEstimate = estimateMonthlyCost()): string {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`no ${START} ... ${END} markers in the document`);
  return `${doc.slice(0, start + START.length)}\n${costMarkdown(e)}\n${doc.slice(end)}`;
}

/** `datastroom cost ...`: returns the exit status. */
export async function costCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS, false);
  if (values.help) {
    process.stdout.write(`${COST_USAGE}\n`);
    return 0;
  }
  const doc = values['update-doc'];
  if (doc !== undefined) {
    await writeFile(doc, withCostSection(await readFile(doc, 'utf8')));
    return 0;
  }
  let estimate: CostEstimate;
  try {
    estimate = estimateMonthlyCost(fleetFromArgs(values));
  } catch (error) {
    if (error instanceof CostOptionError) throw new UsageError(error.message);
    throw error;
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ totalUsd: estimate.totalUsd, lines: estimate.lines, fleet: estimate.fleet, sizing: estimate.sizing, volumes: estimate.volumes })}\n`);
  else if (values.markdown) process.stdout.write(`${costMarkdown(estimate)}\n`);
  else process.stdout.write(`${costText(estimate)}\n`);
  return 0;
}
