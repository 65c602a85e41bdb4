/**
 * npm run bench: the targets of DESIGN.md, each measured against a reference
 * measured in the same run on the same machine, printed as a table and as
 * one JSON line.
 *
 *   1. transform rows/s vs DuckDB's own COPY (read_json -> Parquet), same file
 *   2. ingest msgs/s (QoS 1, publish to durable raw) vs the broker's plain pub/sub
 *   3. peak resident memory of the 1,000,000-row transform
 *   4. the refused-heavy object: 40 messages of 128 KB arrays of tiny invalid
 *      readings (5 MiB, about 1.75 million refused readings): rows/s and peak memory
 *   5. files and bytes a one-day query reads vs the whole dataset
 *   6. the lake (bench/lake.ts): query times of a 500-sensor fleet kept 1 and 7
 *      days, fragmented, compacted and as one file a day; de-duplication per
 *      object with 7 days of history vs none
 *   7. the CLI's start-up vs bare node (bench/cli-startup.ts)
 *   8. a one-day query with 7 days kept vs 1 day kept (bench/query-days.ts)
 *   9. transform ms per Firehose object (gzip, base64 payloads) at 70, 350
 *      and 3,500 readings, one vCPU, written to cost/measured-transform.json
 *  10. the transform of readings in vendor formats (The Things Stack uplinks,
 *      NGSI-v2 keyValues) vs the same readings native (bench/formats.ts)
 *  11. the city dashboard with 7 days of a 500-sensor fleet kept: its data
 *      endpoint vs a trivial request, and its first render in Chromium vs a
 *      blank page (bench/dashboard.ts)
 *
 * BENCH_ROWS, BENCH_MESSAGES, BENCH_LAKE_SCALE and BENCH_DASHBOARD_SCALE scale it down for a quick look;
 * BENCH_LAKE_SCALE=0 leaves the lake (6) out.
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { getDataset } from '../datasets/index.ts';
import { MAX_PAYLOAD_BYTES, messageIdFor, rawLine, topicFor } from '../functions/core/envelope.ts';
import { LocalObjectStore } from '../functions/adapters/local-store.ts';
import { processRawObject } from '../functions/core/process.ts';
import { createTransformEngine } from '../functions/core/engine.ts';
import { LocalQueryEngine } from '../local/query.ts';
import { brusselsIso, plausibleReading, seededRandom } from '../local/readings.ts';
import { measureIngest } from './ingest.ts';
import { lakeRows, measureLake } from './lake.ts';
import { measureCliStartup, startupLines } from './cli-startup.ts';
import { measureQueryDays, queryDaysLines } from './query-days.ts';
import { measureFirehoseTransform } from './firehose.ts';
import { dashboardLines, measureDashboard } from './dashboard.ts';
import { formatsRow, measureFormats } from './formats.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50_000);
const MEMORY_TARGET_MB = 512;
const exec = promisify(execFile);

interface JobResult {
  readonly rows: number;
  readonly seconds: number;
  readonly maxRssMb: number;
}

/** A raw object as the ingest writes it: 500 sensors over three event days, some bad values and redeliveries. */
export async function generateRawObject(file: string, rows: number): Promise<void> {
  const air = getDataset('air_quality');
  const random = seededRandom(7);
  const out = createWriteStream(file);
  const start = Date.parse('2026-11-27T00:00:00Z');
  const step = (3 * 86_400_000) / rows;
  let previous = '';
  let chunk: string[] = [];
  for (let i = 0; i < rows; i++) {
    const at = new Date(start + i * step);
    const sensor = `aq-${String(i % 500).padStart(3, '0')}`;
    const topic = topicFor(air.id, sensor);
    let line: string;
    if (i > 0 && i % 1000 === 0) {
      line = previous; // a redelivery
    } else {
      const reading = plausibleReading(air, at, random);
      if (i % 500 === 7) reading.no2 = -1; // quarantined
      reading.ts = brusselsIso(at);
      const payload = Buffer.from(JSON.stringify(reading));
      line = rawLine(sensor, messageIdFor(topic, payload), new Date(at.getTime() + 1500), payload);
    }
    previous = line;
    chunk.push(line);
    if (chunk.length === 10_000) {
      if (!out.write(chunk.join('\n') + '\n')) await once(out, 'drain');
      chunk = [];
    }
  }
  out.end(chunk.length ? chunk.join('\n') + '\n' : '');
  await once(out, 'finish');
}

/**
 * The amplification case: messages at IoT Core's size limit, each an array of
 * the smallest invalid reading there is (`{}`), so a 5 MiB raw object holds
 * about 1.75 million readings that all go to quarantine.
 */
export async function generateRefusedObject(file: string, messages = 40): Promise<number> {
  const air = getDataset('air_quality');
  const element = '{}';
  const perMessage = Math.floor((MAX_PAYLOAD_BYTES - 2) / (element.length + 1));
  const payload = Buffer.from(`[${Array(perMessage).fill(element).join(',')}]`);
  const lines: string[] = [];
  for (let m = 0; m < messages; m++) {
    const sensor = `flood-${m}`;
    lines.push(rawLine(sensor, messageIdFor(topicFor(air.id, sensor), payload), new Date(Date.parse('2026-11-29T10:00:00Z') + m), payload));
  }
  const out = createWriteStream(file);
  out.end(lines.join('\n') + '\n');
  await once(out, 'finish');
  return messages * perMessage;
}

async function job(mode: 'reference' | 'transform', rawFile: string, rawKey: string): Promise<JobResult> {
  const { stdout } = await exec(
    process.execPath,
    ['--import', 'tsx', resolve(import.meta.dirname, 'transform-job.ts'), mode, rawFile, rawKey],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as JobResult;
}

async function partitionPruning(root: string, rawKey: string): Promise<{ filesRead: number; filesTotal: number; bytesRead: number; bytesTotal: number; day: string }> {
  const air = getDataset('air_quality');
  // A temporary directory to spill to, as every engine of the platform has: this process holds the other measurements too.
  const duckdb = await createTransformEngine({ tempDirectory: join(root, 'spill') });
  await processRawObject(new LocalObjectStore(root), air, rawKey, { duckdb, pseudonymKey: Buffer.alloc(32, 1) }, root);
  duckdb.closeSync();
  const curated = join(root, 'curated', air.id);
  const partitions = (await readdir(curated)).sort();
  const day = partitions[1]?.slice(3) ?? partitions[0]?.slice(3) ?? '';
  let bytesTotal = 0;
  let bytesRead = 0;
  let filesTotal = 0;
  for (const partition of partitions) {
    for (const name of await readdir(join(curated, partition))) {
      const size = (await stat(join(curated, partition, name))).size;
      filesTotal += 1;
      bytesTotal += size;
      if (partition === `dt=${day}`) bytesRead += size;
    }
  }
  const engine = await LocalQueryEngine.open(root, [air]);
  const plan = await engine.query(`EXPLAIN ANALYZE SELECT sensor_id, avg(pm25) FROM air_quality WHERE dt = '${day}' GROUP BY 1`);
  engine.close();
  const text = String(plan.rows[0]?.[1] ?? '');
  const filesRead = Number(/Total Files Read: (\d+)/.exec(text)?.[1] ?? Number.NaN);
  return { filesRead, filesTotal, bytesRead: filesRead === 1 ? bytesRead : Number.NaN, bytesTotal, day };
}

const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

/** The run with the median time. */
function median(runs: readonly JobResult[]): JobResult {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)] as JobResult;
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'datastroom-bench-'));
  try {
    const rawKey = 'raw/air_quality/dt=2026-11-29/air_quality-20261129T000000000Z-bench000.jsonl';
    const rawFile = join(root, rawKey);
    await mkdir(join(root, 'raw/air_quality/dt=2026-11-29'), { recursive: true });
    process.stderr.write(`generating a raw object of ${ROWS} readings...\n`);
    await generateRawObject(rawFile, ROWS);
    const rawMb = (await stat(rawFile)).size / 1e6;

    process.stderr.write(`transform: DuckDB COPY reference and the transform, each in its own process, ${RUNS} times in turn...\n`);
    const references: JobResult[] = [];
    const transforms: JobResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      references.push(await job('reference', rawFile, rawKey));
      transforms.push(await job('transform', rawFile, rawKey));
    }
    // The median run of each: one slow or fast outlier on a shared machine moves neither.
    const reference = median(references);
    const transform = median(transforms);
    const peakRss = transforms.map((t) => t.maxRssMb);
    const referenceRate = reference.rows / reference.seconds;
    const transformRate = transform.rows / transform.seconds;

    const refusedKey = 'raw/air_quality/dt=2026-11-29/air_quality-20261129T000000000Z-refused0.jsonl';
    const refusedFile = join(root, refusedKey);
    const refusedReadings = await generateRefusedObject(refusedFile);
    const refusedMb = (await stat(refusedFile)).size / 2 ** 20;
    process.stderr.write(`refused-heavy: ${refusedReadings} refused readings in ${refusedMb.toFixed(1)} MiB, ${RUNS} runs...\n`);
    const refusedRuns: JobResult[] = [];
    for (let i = 0; i < RUNS; i++) refusedRuns.push(await job('transform', refusedFile, refusedKey));
    const refused = median(refusedRuns);
    const refusedRate = refused.rows / refused.seconds;

    process.stderr.write(`ingest: ${MESSAGES} QoS 1 messages, plain pub/sub, then publish to durable raw...\n`);
    const ingest = await measureIngest(MESSAGES, join(root, 'ingest'));

    process.stderr.write('partition pruning: a one-day query over the curated dataset...\n');
    const pruning = await partitionPruning(root, rawKey);

    const lake = Number(process.env.BENCH_LAKE_SCALE ?? 1) > 0 ? await measureLake() : undefined;
    process.stderr.write('firehose: the transform on objects as Firehose writes them...\n');
    const firehose = await measureFirehoseTransform((line) => process.stderr.write(`${line}\n`));
    process.stderr.write('formats: vendor payloads vs the same readings native...\n');
    const formats = await measureFormats(Math.min(ROWS, 200_000), RUNS);

    const rows: [string, string, string, string][] = [
      ['transform rows/s', transformRate.toFixed(0), `DuckDB COPY ${referenceRate.toFixed(0)}`, `${ratio(transformRate, referenceRate)} (target >= 0.5)`],
      ['ingest msgs/s (QoS 1, durable)', ingest.durableRate.toFixed(0), `plain pub/sub ${ingest.plainRate.toFixed(0)}`, `${ratio(ingest.durableRate, ingest.plainRate)} (target >= 0.5)`],
      ['transform peak RSS MB (median run)', transform.maxRssMb.toFixed(0), `DuckDB COPY ${reference.maxRssMb.toFixed(0)}`, `target < ${MEMORY_TARGET_MB} (runs: ${peakRss.map((m) => m.toFixed(0)).join(', ')})`],
      ['refused-heavy rows/s (5 MiB, all refused)', refusedRate.toFixed(0), `${refused.rows} readings in ${refused.seconds.toFixed(2)} s`, ''],
      ['refused-heavy peak RSS MB (median run)', refused.maxRssMb.toFixed(0), '', `target < ${MEMORY_TARGET_MB} (runs: ${refusedRuns.map((m) => m.maxRssMb.toFixed(0)).join(', ')})`],
      [`one-day query (dt=${pruning.day}) files`, String(pruning.filesRead), `of ${pruning.filesTotal}`, 'target: 1 partition'],
      ['one-day query bytes', String(pruning.bytesRead), `of ${pruning.bytesTotal}`, `${ratio(pruning.bytesRead, pruning.bytesTotal)} of the dataset`],
      ...(lake ? lakeRows(lake) : [['lake', 'left out (BENCH_LAKE_SCALE=0)', '', ''] as [string, string, string, string]]),
      ...firehose.sizes.map((f): [string, string, string, string] => [
        `Firehose object, ${f.readings} readings: warm ms`,
        f.warmMs.toFixed(1),
        `cold ${f.coldMs} ms, peak ${f.peakRssMb} MB`,
        f.fastPath ? 'fast path' : 'pre-pass',
      ]),
      [`Firehose object, full buffer (${firehose.fullBuffer.readings} readings): warm ms`, String(firehose.fullBuffer.warmMs), `peak ${firehose.fullBuffer.peakRssMb} MB`, `function ${firehose.functionMemoryMb} MB`],
      formatsRow(formats),
    ];
    const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), ['measure', 'value', 'reference', 'ratio'][i]!.length));
    const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    process.stdout.write(
      [
        `raw object: ${ROWS} readings, ${rawMb.toFixed(0)} MB; median of ${RUNS} runs: ${transform.rows} rows transformed in ${transform.seconds.toFixed(2)} s, DuckDB COPY in ${reference.seconds.toFixed(2)} s`,
        line(['measure', 'value', 'reference', 'ratio']),
        ...rows.map(line),
        '',
      ].join('\n'),
    );
    process.stdout.write(
      `${JSON.stringify({
        rows: ROWS,
        transform: {
          rowsPerSecond: Math.round(transformRate),
          referenceRowsPerSecond: Math.round(referenceRate),
          ratio: ratio(transformRate, referenceRate),
          runs: { transformSeconds: transforms.map((t) => t.seconds), referenceSeconds: references.map((r) => r.seconds) },
        },
        ingest: { messages: MESSAGES, durablePerSecond: Math.round(ingest.durableRate), plainPerSecond: Math.round(ingest.plainRate), ratio: ratio(ingest.durableRate, ingest.plainRate) },
        memory: {
          transformPeakRssMb: Math.round(transform.maxRssMb),
          transformPeakRssMbRuns: peakRss.map(Math.round),
          referencePeakRssMb: Math.round(reference.maxRssMb),
          targetMb: MEMORY_TARGET_MB,
        },
        refusedHeavy: {
          readings: refused.rows,
          rawMiB: Math.round(refusedMb * 10) / 10,
          rowsPerSecond: Math.round(refusedRate),
          peakRssMb: Math.round(refused.maxRssMb),
          peakRssMbRuns: refusedRuns.map((r) => Math.round(r.maxRssMb)),
          targetMb: MEMORY_TARGET_MB,
        },
        pruning,
        lake,
        firehose,
        formats,
      })}\n`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  process.stderr.write('CLI start-up and a one-day query against the days kept...\n');
  const startup = await measureCliStartup();
  const days = await measureQueryDays();
  process.stdout.write(`${[...startupLines(startup), ...queryDaysLines(days)].join('\n')}\n${JSON.stringify({ cliStartup: startup, queryDays: days })}\n`);
  const dashboard = await measureDashboard();
  process.stdout.write(`${dashboardLines(dashboard).join('\n')}\n${JSON.stringify({ dashboard })}\n`);
}

if (!import.meta.url.includes("?gen")) await main();
