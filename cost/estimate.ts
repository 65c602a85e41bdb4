/**
 * The monthly AWS cost of a fleet on the deployed platform, line by line:
 * from the registry (datasets, retention), the stack's sizing (buffering,
 * function memory, log retention, alarms and metrics per dataset), the
 * benchmark's measured transform time and sizes, and one region's prices.
 * Every line says what it counts and the figure it rests on.
 */
import { registry, durationSeconds, type Dataset } from '../datasets/index.ts';
import { ACCESS_LOG_RETENTION_DAYS, COMPACTION_FUNCTION, DELIVERY_BUFFERING, LOG_RETENTION_DAYS, PUBLISHING_FUNCTION, TRANSFORM_FUNCTION } from '../infra/sizing.ts';
import { readMeasuredCompaction, readMeasuredTransform, warmMsFor, type MeasuredCompaction, type MeasuredTransform } from './measured.ts';
import { DEFAULT_REGION, PRICE_TABLES, type Price, type PriceTable } from './prices.ts';

/** The fleet and its use: what the city decides. */
export interface FleetOptions {
  /** Sensors in all, spread evenly over the datasets unless {@link sensorsPerDataset} says otherwise. */
  readonly sensors: number;
  /** Sensors of named datasets; the rest of {@link sensors} is spread over the others. @default - an even spread */
  readonly sensorsPerDataset?: Readonly<Record<string, number>>;
  /** Readings each sensor takes per interval. */
  readonly readingsPerInterval: number;
  /** The interval in seconds, or 'registry' for each dataset's update frequency. */
  readonly intervalSeconds: number | 'registry';
  /** Readings a sensor sends in one message (a JSON array when more than one). */
  readonly readingsPerMessage: number;
  /** Data Athena scans in a month, GB. */
  readonly scannedGbPerMonth: number;
  /** Athena queries in a month (each scans 10 MB at least). */
  readonly queriesPerMonth: number;
  /** Share of readings quarantined. */
  readonly quarantineShare: number;
  /** Whether sensors publish by Basic Ingest (no messaging charge) rather than through the broker. */
  readonly basicIngest: boolean;
  /** Whether the account's always-free allowances (Lambda, X-Ray, SQS, KMS, CloudWatch) are counted. */
  readonly freeTier: boolean;
  /** Months the platform has run: how much the lake holds. */
  readonly monthsRunning: number;
  /** The region whose prices apply (see PRICE_TABLES). */
  readonly region: string;
  /** What the open-data portal serves a month through CloudFront, GB. */
  readonly portalGbPerMonth: number;
  /** Requests to the open-data portal a month. */
  readonly portalRequestsPerMonth: number;
}

/** The estimate's defaults: 500 sensors, one reading a minute each, one reading a message. */
export const FLEET_DEFAULTS: FleetOptions = Object.freeze({
  sensors: 500,
  readingsPerInterval: 1,
  intervalSeconds: 60,
  readingsPerMessage: 1,
  scannedGbPerMonth: 100,
  queriesPerMonth: 3_000,
  quarantineShare: 0.01,
  basicIngest: true,
  freeTier: true,
  monthsRunning: 12,
  region: DEFAULT_REGION,
  portalGbPerMonth: 50,
  portalRequestsPerMonth: 500_000,
});

/**
 * What the deployed stack holds per dataset and in all, as its constructs
 * build it (a test holds these to the synthesized template).
 */
export const STACK_FOOTPRINT = Object.freeze({
  /** Custom metrics the transform emits per dataset: Received and Quarantined, the two its alarm reads. */
  customMetricsPerDataset: 2,
  /** Alarm metrics per dataset: the quarantine rate (two metrics) and freshness (one). */
  alarmMetricsPerDataset: 3,
  /** Composite alarms per dataset: none (freshness is one alarm that stays quiet without readings). */
  compositeAlarmsPerDataset: 0,
  /** Dead letters, transform errors, compaction errors and publishing errors. */
  platformAlarmMetrics: 4,
  /** The platform key; the pseudonymisation secret. */
  kmsKeys: 1,
  secrets: 1,
});

/** The stack's sizing the estimate reads (infra/sizing.ts). */
export interface StackSizing {
  readonly bufferingSeconds: number;
  readonly bufferingMiB: number;
  readonly functionMemoryMb: number;
  readonly logRetentionDays: number;
  readonly compactionMemoryMb: number;
  readonly compactionRunsPerHour: number;
  readonly publishingMemoryMb: number;
  readonly publishingRunsPerHour: number;
}

/** The sizing the stack deploys by default. */
export const STACK_SIZING: StackSizing = Object.freeze({
  bufferingSeconds: DELIVERY_BUFFERING.intervalSeconds,
  bufferingMiB: DELIVERY_BUFFERING.sizeMiB,
  functionMemoryMb: TRANSFORM_FUNCTION.memoryMb,
  logRetentionDays: LOG_RETENTION_DAYS,
  compactionMemoryMb: COMPACTION_FUNCTION.memoryMb,
  compactionRunsPerHour: COMPACTION_FUNCTION.runsPerHour,
  publishingMemoryMb: PUBLISHING_FUNCTION.memoryMb,
  publishingRunsPerHour: PUBLISHING_FUNCTION.runsPerHour,
});

/** One line of the estimate. */
export interface CostLine {
  readonly service: string;
  /** What is counted, with units. */
  readonly usage: string;
  /** The figure the line rests on: a price, a measurement, a setting. */
  readonly basis: string;
  readonly usd: number;
  /** Why the line is what it is, for the README. */
  readonly why: string;
}

/** The whole estimate. */
export interface CostEstimate {
  readonly lines: readonly CostLine[];
  readonly totalUsd: number;
  readonly fleet: FleetOptions;
  readonly sizing: StackSizing;
  readonly prices: PriceTable;
  readonly measured: MeasuredTransform;
  readonly measuredCompaction: MeasuredCompaction;
  /** Totals the lines rest on, for tests and readers. */
  readonly volumes: {
    readonly readings: number;
    readonly messages: number;
    readonly objects: number;
    readonly readingsPerObject: number;
  };
}

/** A fleet the estimate cannot price; names what to change. */
export class CostOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CostOptionError';
  }
}

const DAYS = 30;
const SECONDS_PER_MONTH = DAYS * 86_400;
const MINUTES_PER_MONTH = DAYS * 1_440;
const GB = 2 ** 30;
/** Firehose bills each record rounded up to the next 5 KB; IoT Core meters messages and rules in 5 KB units. */
const BILLING_UNIT_BYTES = 5_120;
/** Lambda gives a function one vCPU at this memory size, less below it. */
const ONE_VCPU_MB = 1_769;
/** Lambda's SQS event source long-polls with five connections, each ReceiveMessage waiting up to 20 s. */
const SQS_POLLS_PER_MONTH = 5 * 3 * MINUTES_PER_MONTH;
/** Log bytes per object: Lambda's START, END and REPORT lines and the function's result and metric lines. */
const LOG_BYTES_PER_OBJECT = 1_024;
/** S3 bucket keys spare KMS almost every request (AWS documents up to 99% fewer). */
const KMS_SHARE_OF_S3_REQUESTS = 0.01;
/** Bytes of one S3 server access log record (a line of about 400 to 600 characters). */
const ACCESS_LOG_RECORD_BYTES = 512;
/** A function's execution environment is taken to start once an hour (730 a month). */
const COLD_STARTS_PER_MONTH = 730;

const cost = (quantity: number, price: Price, free = 0) => (Math.max(0, quantity - free) * price.usd) / price.per;
const n = (x: number) => Math.round(x).toLocaleString('en-US');
const m = (x: number) => `${(x / 1e6).toFixed(x >= 1e7 ? 1 : 2)} M`;
const gb = (bytes: number) => `${(bytes / GB).toFixed(bytes >= 10 * GB ? 0 : 2)} GB`;
const usdUnit = (p: Price) => `$${p.usd} per ${p.per === 1 ? '' : p.per === 1_000_000 ? 'million ' : `${n(p.per)} `}${p.unit}`;

function sensorsOf(datasets: readonly Dataset[], fleet: FleetOptions): Map<string, number> {
  const named = fleet.sensorsPerDataset ?? {};
  for (const id of Object.keys(named)) {
    if (!datasets.some((d) => d.id === id)) throw new CostOptionError(`unknown dataset "${id}" in --per-dataset (datasets: ${datasets.map((d) => d.id).join(', ')})`);
  }
  const fixed = Object.values(named).reduce((a, b) => a + b, 0);
  const rest = datasets.filter((d) => named[d.id] === undefined);
  const left = fleet.sensors - fixed;
  if (left < 0) throw new CostOptionError(`--per-dataset names ${fixed} sensors, more than --sensors ${fleet.sensors}`);
  if (rest.length === 0 && left > 0) throw new CostOptionError(`--sensors ${fleet.sensors} leaves ${left} sensors for no dataset: every dataset is named in --per-dataset`);
  const sensors = new Map<string, number>();
  rest.forEach((d, i) => sensors.set(d.id, Math.floor(left / rest.length) + (i < left % rest.length ? 1 : 0)));
  for (const [id, count] of Object.entries(named)) sensors.set(id, count);
  return sensors;
}

function intervalOf(dataset: Dataset, fleet: FleetOptions): number {
  if (fleet.intervalSeconds !== 'registry') return fleet.intervalSeconds;
  return durationSeconds(dataset.governance.updateFrequency) ?? 3_600;
}

/**
 * Bytes of a reading as a row of the portal's CSV: the sensor id, three ISO
 * times, the 32-character message id and the date, and about eight
 * characters per field value.
 */
function csvRowBytes(dataset: Dataset): number {
  return 12 + 3 * 28 + 33 + 11 + 8 * (dataset.fields.length - 1);
}

/** The bytes of the record the topic rule hands Firehose for a message of this many payload bytes. */
function recordBytes(payloadBytes: number): number {
  const envelope = JSON.stringify({ messageId: '0'.repeat(32), sensorId: 'sensor-0042', receivedAt: '2026-11-29T10:00:00.000Z', payloadBase64: '' }).length;
  return envelope + Math.ceil(payloadBytes / 3) * 4 + 1;
}

/** The measured size nearest a number of readings per object. */
function nearestSize(measured: MeasuredTransform, readings: number) {
  return [...measured.sizes].sort((a, b) => Math.abs(a.readings - readings) - Math.abs(b.readings - readings))[0] as MeasuredTransform['sizes'][number];
}

/** Estimates a fleet's monthly AWS cost on the platform as deployed. */
export function estimateMonthlyCost(
  options: Partial<FleetOptions> = {},
  context: { datasets?: readonly Dataset[]; sizing?: StackSizing; measured?: MeasuredTransform; measuredCompaction?: MeasuredCompaction } = {},
): CostEstimate {
  const fleet: FleetOptions = { ...FLEET_DEFAULTS, ...options };
  const datasets = context.datasets ?? registry;
  const sizing = context.sizing ?? STACK_SIZING;
  const measured = context.measured ?? readMeasuredTransform();
  const measuredCompaction = context.measuredCompaction ?? readMeasuredCompaction();
  const table = PRICE_TABLES[fleet.region];
  if (!table) throw new CostOptionError(`no prices for region "${fleet.region}" (regions: ${Object.keys(PRICE_TABLES).join(', ')})`);
  for (const [name, value] of [
    ['sensors', fleet.sensors],
    ['readings-per-interval', fleet.readingsPerInterval],
    ['readings-per-message', fleet.readingsPerMessage],
    ['months', fleet.monthsRunning],
  ] as const) {
    if (!Number.isFinite(value) || value <= 0) throw new CostOptionError(`--${name} must be a positive number, got ${value}`);
  }
  if (fleet.intervalSeconds !== 'registry' && !(fleet.intervalSeconds > 0)) throw new CostOptionError(`--interval must be a positive number of seconds or "registry"`);
  if (!(fleet.quarantineShare >= 0 && fleet.quarantineShare <= 1)) throw new CostOptionError('--quarantine-share is a share: between 0 and 1');
  const p = table.prices;
  const free = fleet.freeTier
    ? table.freeEachMonth
    : { lambdaRequests: 0, lambdaGbSeconds: 0, xrayTraces: 0, sqsRequests: 0, kmsRequests: 0, cloudwatchMetrics: 0, cloudwatchAlarmMetrics: 0, logsGb: 0, cloudfrontGb: 0, cloudfrontRequests: 0 };
  const sensors = sensorsOf(datasets, fleet);
  const reading = nearestSize(measured, 70);
  const messageBytes = fleet.readingsPerMessage === 1 ? reading.payloadBytes : fleet.readingsPerMessage * (reading.payloadBytes + 1) + 1;
  const messageUnits = Math.ceil(messageBytes / BILLING_UNIT_BYTES);
  const firehoseBytesPerRecord = Math.ceil(recordBytes(messageBytes) / BILLING_UNIT_BYTES) * BILLING_UNIT_BYTES;

  // Per dataset: its stream writes an object per buffer interval that saw a message, more when the size fills first.
  let readings = 0;
  let messages = 0;
  let objects = 0;
  let rawStored = 0;
  let curatedStored = 0;
  // What the open-data portal holds and reads: the open datasets only.
  const portal = { readings: 0, objects: 0, sensors: 0, datasets: 0, stored: 0 };
  const perDataset: { readings: number; fileBytes: number }[] = [];
  const streamFlushes = SECONDS_PER_MONTH / sizing.bufferingSeconds;
  for (const dataset of datasets) {
    const count = sensors.get(dataset.id) ?? 0;
    if (count === 0) continue;
    const dReadings = (count * fleet.readingsPerInterval * SECONDS_PER_MONTH) / intervalOf(dataset, fleet);
    const dMessages = dReadings / fleet.readingsPerMessage;
    const bySize = (dMessages * recordBytes(messageBytes)) / (sizing.bufferingMiB * 2 ** 20);
    const dObjects = Math.max(Math.min(streamFlushes, dMessages), bySize);
    const perObject = dReadings / dObjects;
    const size = nearestSize(measured, perObject);
    readings += dReadings;
    messages += dMessages;
    objects += dObjects;
    const months = (days: number) => Math.min(fleet.monthsRunning, days / DAYS);
    rawStored += dReadings * (size.gzipBytes / size.readings) * months(dataset.retention.rawDays);
    curatedStored += dReadings * (size.curatedBytes / size.readings) * months(dataset.retention.curatedDays);
    // Compaction rewrites each settled day into one file per arrival date: a day's readings, not an object's.
    perDataset.push({ readings: dReadings, fileBytes: (dReadings / DAYS) * (size.curatedBytes / size.readings) });
    if (dataset.governance.classification === 'open') {
      portal.readings += dReadings;
      portal.objects += dObjects;
      portal.sensors += count;
      portal.datasets += 1;
      portal.stored += dReadings * (csvRowBytes(dataset) + size.curatedBytes / size.readings) * months(dataset.retention.curatedDays);
    }
  }
  // Athena reads a compacted file's footer, then its row groups: two GETs at least for each file it opens.
  // The scans fall on the datasets by their share of the readings.
  const athenaFiles = perDataset.reduce((sum, d) => sum + (fleet.scannedGbPerMonth * GB * (d.readings / readings)) / d.fileBytes, 0);
  const athenaGets = 2 * athenaFiles;
  const readingsPerObject = readings / objects;
  const objectSize = nearestSize(measured, readingsPerObject);
  const cpuScale = Math.max(1, ONE_VCPU_MB / sizing.functionMemoryMb);
  const warmMs = warmMsFor(measured, readingsPerObject) * cpuScale;
  const coldMs = objectSize.coldMs * cpuScale;
  const memoryGb = sizing.functionMemoryMb / 1024;
  const transformGbSeconds = ((objects * warmMs + COLD_STARTS_PER_MONTH * coldMs) / 1000) * memoryGb;
  // Compaction rewrites every reading once, at the benchmark's rate scaled to its share of a vCPU.
  const compactionRuns = sizing.compactionRunsPerHour * 24 * DAYS;
  const compactionRate = measuredCompaction.readings / measuredCompaction.seconds;
  const compactionCpuScale = Math.max(1, ONE_VCPU_MB / sizing.compactionMemoryMb);
  const compactionGbSeconds = (readings / compactionRate) * compactionCpuScale * (sizing.compactionMemoryMb / 1024);
  const gbSeconds = transformGbSeconds + compactionGbSeconds;
  const lambdaRequests = objects + compactionRuns;
  // Each hourly run lists each dataset's recent partitions (a page of up to 1,000 keys or two), reads every
  // per-object file once, and writes a file and a manifest per dataset and arrival date.
  const compactionLists = compactionRuns * datasets.length * 2;
  const compactionPuts = datasets.length * DAYS * 2;
  const compactionGets = objects;
  const quarantineObjects = objects * (1 - (1 - fleet.quarantineShare) ** readingsPerObject);
  const puts = objects * 2 + quarantineObjects + fleet.queriesPerMonth + compactionPuts + compactionLists;
  const gets = objects + compactionGets + athenaGets;
  const logBytes = objects * LOG_BYTES_PER_OBJECT;
  // Every request to a lake bucket leaves a server access log record, kept a year in the log bucket.
  const accessLogBytes = (puts + gets) * ACCESS_LOG_RECORD_BYTES;
  const accessLogsStored = accessLogBytes * Math.min(fleet.monthsRunning, ACCESS_LOG_RETENTION_DAYS / DAYS);
  const logsStored = logBytes * Math.min(fleet.monthsRunning, sizing.logRetentionDays / DAYS);
  const customMetrics = datasets.length * STACK_FOOTPRINT.customMetricsPerDataset;
  const alarmMetrics = datasets.length * STACK_FOOTPRINT.alarmMetricsPerDataset + STACK_FOOTPRINT.platformAlarmMetrics;
  const sqsRequests = SQS_POLLS_PER_MONTH + objects * 3;
  const kmsRequests = (puts + gets) * KMS_SHARE_OF_S3_REQUESTS;
  const scannedTb = Math.max(fleet.scannedGbPerMonth, (fleet.queriesPerMonth * 10) / 1024) / 1024;
  // Publishing: each run writes the day being filled (half a day of the open datasets' readings on average) as CSV
  // and Parquet, and reads today and yesterday for the dashboard's copy; at compaction's measured rate, the same
  // DuckDB read and rewrite of Parquet. It fetches today's per-object files and yesterday's compacted one, and every
  // open sensor's place; it writes per open dataset the day's two files, the places, the views, the chart data,
  // and the catalog (twice), page, state, dashboard data and the page's six files.
  const publishingRuns = sizing.publishingRunsPerHour * 24 * DAYS;
  const portalReadingsPerDay = portal.readings / DAYS;
  const publishedPerRun = portalReadingsPerDay * (0.5 * 2 + 1.5);
  const publishingCpuScale = Math.max(1, ONE_VCPU_MB / sizing.publishingMemoryMb);
  const publishingGbSeconds = publishingRuns * (publishedPerRun / compactionRate) * publishingCpuScale * (sizing.publishingMemoryMb / 1024);
  const publishingGets = publishingRuns * (portal.objects / DAYS / 2 + portal.datasets + portal.sensors);
  const publishingPuts = publishingRuns * (portal.datasets * (5 + 5) + 11);
  const lambdaFreeLeft = { gbSeconds: Math.max(0, free.lambdaGbSeconds - gbSeconds), requests: Math.max(0, free.lambdaRequests - lambdaRequests) };
  const price = (pr: Price) => `${usdUnit(pr)}${pr.confirmed ? '' : '*'}`;
  const freeNote = (amount: number, unit: string) => (fleet.freeTier && amount > 0 ? `, first ${n(amount)} ${unit} free` : '');
  const measuredNote = `benchmark of ${measured.measuredAt}`;

  const lines: CostLine[] = [
    {
      service: 'IoT Core connectivity',
      usage: `${n(fleet.sensors)} sensors connected all month = ${m(fleet.sensors * MINUTES_PER_MONTH)} connection-minutes`,
      basis: price(p.iotConnectivity),
      usd: cost(fleet.sensors * MINUTES_PER_MONTH, p.iotConnectivity),
      why: 'Each sensor keeps its MQTT connection open; IoT Core bills the minutes, pings included.',
    },
    {
      service: 'IoT Core messaging',
      usage: fleet.basicIngest ? `${m(messages)} messages by Basic Ingest` : `${m(messages)} messages × ${messageUnits} unit(s) of 5 KB`,
      basis: fleet.basicIngest ? 'Basic Ingest topics (`$aws/rules/<rule>/...`) skip the message broker: no messaging charge' : price(p.iotMessaging),
      usd: fleet.basicIngest ? 0 : cost(messages * messageUnits, p.iotMessaging),
      why: 'Sensors publish straight to their dataset\'s rule by Basic Ingest (the topic `sensors register` prints), so the broker\'s $1 per million messages does not apply; through the broker it would.',
    },
    {
      service: 'IoT Core rules',
      usage: `${m(messages)} rules triggered + ${m(messages)} actions executed (5 KB units: ${messageUnits})`,
      basis: `${price(p.iotRulesTriggered)}; ${price(p.iotActionsExecuted)}`,
      usd: cost(messages * messageUnits, p.iotRulesTriggered) + cost(messages * messageUnits, p.iotActionsExecuted),
      why: 'Each message triggers its dataset\'s topic rule, whose one action hands it to Firehose; Basic Ingest still pays this.',
    },
    {
      service: 'Firehose',
      usage: `${m(messages)} records of ${recordBytes(messageBytes)} bytes, billed at ${firehoseBytesPerRecord / 1024} KB each = ${gb(messages * firehoseBytesPerRecord)}`,
      basis: price(p.firehoseIngestion),
      usd: cost((messages * firehoseBytesPerRecord) / GB, p.firehoseIngestion),
      why: 'One record per message (envelope and base64 payload), each rounded up to 5 KB; sending several readings per message is what lowers it.',
    },
    {
      service: 'Lambda',
      usage: `transform: ${n(objects)} objects of ${n(readingsPerObject)} readings × ${warmMs.toFixed(0)} ms × ${memoryGb} GB + ${COLD_STARTS_PER_MONTH} cold starts × ${coldMs.toFixed(0)} ms = ${n(transformGbSeconds)} GB-s; compaction: ${n(compactionRuns)} runs, ${m(readings)} readings at ${n(compactionRate)} a second × ${(sizing.compactionMemoryMb / 1024).toFixed(2)} GB = ${n(compactionGbSeconds)} GB-s; ${n(lambdaRequests)} requests`,
      basis: `${warmMsFor(measured, readingsPerObject).toFixed(0)} ms per object at one vCPU (${measuredNote}), × ${cpuScale.toFixed(2)} for ${sizing.functionMemoryMb} MB's share of a vCPU; compaction ${n(compactionRate)} readings a second (lake benchmark of ${measuredCompaction.measuredAt}); ${price(p.lambdaDuration)}${freeNote(free.lambdaGbSeconds, 'GB-s')}`,
      usd: cost(gbSeconds, p.lambdaDuration, free.lambdaGbSeconds) + cost(lambdaRequests, p.lambdaRequests, free.lambdaRequests),
      why: `The transform runs once per raw object (the delivery stream writes one per ${sizing.bufferingSeconds} s buffer); the time per object is the benchmark's, scaled to the function's share of a vCPU. Compaction runs every hour and rewrites each reading once more, at the lake benchmark's rate.`,
    },
    {
      service: 'X-Ray',
      usage: `${n(objects)} traces`,
      basis: `${price(p.xrayTraces)}${freeNote(free.xrayTraces, 'traces')}`,
      usd: cost(objects, p.xrayTraces, free.xrayTraces),
      why: 'The transform is traced, one trace per invocation.',
    },
    {
      service: 'S3 storage',
      usage: `raw ${gb(rawStored)} (kept ${Math.min(...datasets.map((d) => d.retention.rawDays))} to ${Math.max(...datasets.map((d) => d.retention.rawDays))} days) + curated ${gb(curatedStored)}, after ${fleet.monthsRunning} months`,
      basis: `${(objectSize.gzipBytes / objectSize.readings).toFixed(0)} bytes of gzip raw and ${(objectSize.curatedBytes / objectSize.readings).toFixed(0)} bytes of Parquet per reading (${measuredNote}); ${price(p.s3Storage)}`,
      usd: cost((rawStored + curatedStored) / GB, p.s3Storage),
      why: 'Each dataset\'s retention decides how many months of raw and curated data the lake holds; the bytes per reading are the benchmark\'s.',
    },
    {
      service: 'S3 PUT',
      usage: `${n(puts)} PUTs and LISTs: raw and curated per object, ${n(quarantineObjects)} quarantine, ${n(fleet.queriesPerMonth)} query results, compaction's ${n(compactionPuts)} files and manifests and ${n(compactionLists)} listings`,
      basis: `${price(p.s3Put)} (LIST is priced as PUT)`,
      usd: cost(puts, p.s3Put),
      why: 'Firehose writes one raw object per buffer, the transform one curated object per event date and one quarantine object when a reading is refused, Athena one result per query; compaction lists the recent partitions every hour and writes one file and a manifest per dataset and day.',
    },
    {
      service: 'S3 GET',
      usage: `${n(objects)} by the transform + ${n(compactionGets)} by compaction + ${n(athenaGets)} by Athena (${fleet.scannedGbPerMonth} GB scanned in compacted files of a day each, two GETs per file at least)`,
      basis: price(p.s3Get),
      usd: cost(gets, p.s3Get),
      why: 'The transform reads each raw object, compaction each curated per-object file once; Athena then reads one compacted file per dataset and day instead of one per raw object, footer and row groups.',
    },
    {
      service: 'S3 access logs',
      usage: `${n(puts + gets)} requests a month × about ${ACCESS_LOG_RECORD_BYTES} bytes of log = ${gb(accessLogBytes)}; ${gb(accessLogsStored)} kept (${ACCESS_LOG_RETENTION_DAYS} days)`,
      basis: `${price(p.s3Storage)}; delivering the logs is free`,
      usd: cost(accessLogsStored / GB, p.s3Storage),
      why: 'The lake buckets log every request to the access-log bucket, which keeps a year of them: who read and wrote what.',
    },
    {
      service: 'SQS',
      usage: `${m(sqsRequests)} requests: Lambda's long polls (${m(SQS_POLLS_PER_MONTH)}) and a send, receive and delete per object`,
      basis: `${price(p.sqsRequests)}${freeNote(free.sqsRequests, 'requests')}`,
      usd: cost(sqsRequests, p.sqsRequests, free.sqsRequests),
      why: 'Raw-object events queue for the transform; Lambda polls the queue even when it is empty.',
    },
    {
      service: 'EventBridge',
      usage: `${n(objects)} S3 events on the default bus`,
      basis: 'events from AWS services are free',
      usd: 0,
      why: 'S3 sends an event per raw object to the default bus; the rule forwards it to the queue.',
    },
    {
      service: 'KMS',
      usage: `${STACK_FOOTPRINT.kmsKeys} key; ${n(kmsRequests)} requests (bucket keys spare S3 about 99% of its ${n(puts + gets)})`,
      basis: `${price(p.kmsKey)}; ${price(p.kmsRequests)}${freeNote(free.kmsRequests, 'requests')}`,
      usd: cost(STACK_FOOTPRINT.kmsKeys, p.kmsKey) + cost(kmsRequests, p.kmsRequests, free.kmsRequests),
      why: 'One customer managed key encrypts the lake, logs, topic and secret.',
    },
    {
      service: 'Secrets Manager',
      usage: `${STACK_FOOTPRINT.secrets} secret (the pseudonymisation key)`,
      basis: price(p.secret),
      usd: cost(STACK_FOOTPRINT.secrets, p.secret),
      why: 'The HMAC key that pseudonymises personal data; read once per cold start.',
    },
    {
      service: 'Athena',
      usage: `${fleet.scannedGbPerMonth} GB scanned in ${n(fleet.queriesPerMonth)} queries`,
      basis: price(p.athenaScanned),
      usd: cost(scannedTb, p.athenaScanned),
      why: 'Analysts\' and dashboards\' queries; partition projection keeps a one-day query to one day\'s files.',
    },
    {
      service: 'CloudWatch metrics',
      usage: `${customMetrics} custom metrics (${STACK_FOOTPRINT.customMetricsPerDataset} per dataset × ${datasets.length})`,
      basis: `${price(p.cloudwatchMetric)}${freeNote(free.cloudwatchMetrics, 'metrics')}`,
      usd: cost(customMetrics, p.cloudwatchMetric, free.cloudwatchMetrics),
      why: 'The transform publishes received and quarantined readings per dataset, the two the quarantine alarm reads; its log line also carries curated and duplicate counts, for Logs Insights, at no metric charge.',
    },
    {
      service: 'CloudWatch alarms',
      usage: `${alarmMetrics} alarm metrics (${STACK_FOOTPRINT.alarmMetricsPerDataset} per dataset + ${STACK_FOOTPRINT.platformAlarmMetrics})`,
      basis: `${price(p.cloudwatchAlarmMetric)}${freeNote(free.cloudwatchAlarmMetrics, 'alarm metrics')}`,
      usd: cost(alarmMetrics, p.cloudwatchAlarmMetric, free.cloudwatchAlarmMetrics),
      why: 'Per dataset a quarantine-rate alarm (two metrics) and a freshness alarm that stays quiet for datasets without sensors; for the platform, dead letters, transform errors, compaction errors and publishing errors.',
    },
    {
      service: 'CloudWatch Logs',
      usage: `${gb(logBytes)} ingested (about 1 KB per object), ${gb(logsStored)} kept (${sizing.logRetentionDays} days)`,
      basis: `${price(p.logsIngestion)}${freeNote(free.logsGb, 'GB')}; ${price(p.logsStorage)}`,
      usd: cost(logBytes / GB, p.logsIngestion, free.logsGb) + cost(logsStored / GB, p.logsStorage),
      why: 'Lambda\'s START, END and REPORT lines and the function\'s result and metric lines; the delivery streams log only failures.',
    },
    {
      service: 'Open-data publishing',
      usage: `${n(publishingRuns)} runs a month, each ${n(publishedPerRun)} readings of ${portal.datasets} open datasets at ${n(compactionRate)} a second × ${(sizing.publishingMemoryMb / 1024).toFixed(2)} GB = ${n(publishingGbSeconds)} GB-s; ${n(publishingGets)} GETs and ${n(publishingPuts)} PUTs and LISTs; the portal holds ${gb(portal.stored)} of CSV and Parquet after ${fleet.monthsRunning} months`,
      basis: `compaction's rate (lake benchmark of ${measuredCompaction.measuredAt}); ${price(p.lambdaDuration)}${fleet.freeTier && lambdaFreeLeft.gbSeconds > 0 ? `, ${n(lambdaFreeLeft.gbSeconds)} GB-s of the free tier left after the other functions` : ''}; ${price(p.s3Get)}; ${price(p.s3Put)}; ${price(p.s3Storage)}`,
      usd:
        cost(publishingGbSeconds, p.lambdaDuration, lambdaFreeLeft.gbSeconds) +
        cost(publishingRuns, p.lambdaRequests, lambdaFreeLeft.requests) +
        cost(publishingGets, p.s3Get) +
        cost(publishingPuts, p.s3Put) +
        cost(portal.stored / GB, p.s3Storage),
      why: 'Every hour the publishing function rewrites the open datasets\' day being filled as CSV and Parquet, their catalog and the dashboard\'s copy, reading only what changed and the last day; the portal keeps each day for the dataset\'s curated retention.',
    },
    {
      service: 'CloudFront',
      usage: `${fleet.portalGbPerMonth} GB and ${n(fleet.portalRequestsPerMonth)} HTTPS requests a month to the open-data portal`,
      basis: `${price(p.cloudfrontDataOut)}${freeNote(free.cloudfrontGb, 'GB')}; ${price(p.cloudfrontRequests)}${freeNote(free.cloudfrontRequests, 'requests')}`,
      usd: cost(fleet.portalGbPerMonth, p.cloudfrontDataOut, free.cloudfrontGb) + cost(fleet.portalRequestsPerMonth, p.cloudfrontRequests, free.cloudfrontRequests),
      why: 'The portal\'s files and the public dashboard are served by CloudFront from the portal bucket; its always-free terabyte and ten million requests a month cover a city\'s open data many times over.',
    },
    {
      service: 'Glue Data Catalog',
      usage: `${datasets.length * 3} tables and views, the queries' catalog requests`,
      basis: 'the first million objects stored and requests a month are free',
      usd: 0,
      why: 'Tables use partition projection, so there are no partitions to store or crawl.',
    },
  ];
  const totalUsd = lines.reduce((sum, l) => sum + l.usd, 0);
  return { lines, totalUsd, fleet, sizing, prices: table, measured, measuredCompaction, volumes: { readings, messages, objects, readingsPerObject } };
}
