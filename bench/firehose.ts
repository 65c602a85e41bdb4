/**
 * The transform on raw objects as Firehose writes them in the cloud: gzip
 * JSON lines, each the topic rule's record (envelope and base64 payload), at
 * 70, 350 and 3,500 readings (a minute, five minutes and fifty minutes of 70
 * sensors at one reading a minute), plus the largest object the delivery
 * buffer lets through. Each size runs in its own process with the engine
 * sized as the function sizes it, once cold and then warm, one object after
 * another. The figures go to cost/measured-transform.json, which the cost
 * estimate reads, with the date and the machine they were measured on.
 *
 * Run alone with `node --import tsx bench/firehose.ts`; `npm run bench` runs it too.
 */
import { execFile } from 'node:child_process';
import { writeFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { getDataset } from '../datasets/index.ts';
import { messageIdFor, topicFor } from '../functions/core/envelope.ts';
import { MEASURED_TRANSFORM_FILE, MeasuredTransform } from '../cost/measured.ts';
import { DELIVERY_BUFFERING, TRANSFORM_FUNCTION } from '../infra/sizing.ts';
import { brusselsIso, plausibleReading, seededRandom } from '../local/readings.ts';

const exec = promisify(execFile);

/** The object sizes measured, in readings. */
export const FIREHOSE_SIZES = [70, 350, 3_500] as const;

/** Warm transforms measured per size after the cold one. */
const WARM_RUNS = Number(process.env.BENCH_FIREHOSE_RUNS ?? 15);

/** The record the topic rule writes for one reading (see ingestSql), without the separator. */
function ruleRecord(sensorId: string, receivedAt: Date, payload: Buffer): string {
  return JSON.stringify({
    messageId: messageIdFor(topicFor('air_quality', sensorId), payload),
    sensorId,
    receivedAt: receivedAt.toISOString(),
    payloadBase64: payload.toString('base64'),
  });
}

/**
 * Writes a Firehose object of air-quality readings from 70 sensors, one a
 * minute each; returns its path, its bytes before gzip and the mean bytes
 * of one reading as the sensor sent it.
 */
export async function writeFirehoseObject(dir: string, readings: number): Promise<{ file: string; key: string; rawBytes: number; payloadBytes: number }> {
  const air = getDataset('air_quality');
  const random = seededRandom(11);
  const start = Date.parse('2026-11-29T08:00:00Z');
  const lines: string[] = [];
  let payloadBytes = 0;
  for (let i = 0; i < readings; i++) {
    const at = new Date(start + Math.floor(i / 70) * 60_000 + (i % 70) * 800);
    const reading = plausibleReading(air, at, random);
    reading.ts = brusselsIso(at);
    const payload = Buffer.from(JSON.stringify(reading));
    payloadBytes += payload.length;
    lines.push(ruleRecord(`aq-${String(i % 70).padStart(3, '0')}`, new Date(at.getTime() + 900), payload));
  }
  const text = lines.join('\n') + '\n';
  const name = `datastroom-dev-air_quality-1-2026-11-29-08-00-00-bench${String(readings).padStart(5, '0')}`;
  const file = join(dir, `${name}.jsonl.gz`);
  await writeFile(file, gzipSync(text));
  return { file, key: `raw/air_quality/dt=2026-11-29/${name}.jsonl.gz`, rawBytes: Buffer.byteLength(text), payloadBytes: Math.round(payloadBytes / readings) };
}

const JobResult = z.object({
  readings: z.number(),
  curatedBytes: z.number(),
  coldMs: z.number(),
  warmMs: z.array(z.number()),
  maxRssMb: z.number(),
  canonicalised: z.boolean(),
});

async function job(file: string, key: string, memoryMb: number, runs: number): Promise<z.infer<typeof JobResult>> {
  const { stdout } = await exec(
    process.execPath,
    ['--import', 'tsx', resolve(import.meta.dirname, 'firehose-job.ts'), file, key, String(memoryMb), String(runs)],
    { maxBuffer: 1 << 20, env: { ...process.env, NODE_OPTIONS: '' } },
  );
  return JobResult.parse(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}'));
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** Measures every size (and a full buffer) and writes the figures the cost estimate reads; returns them. */
export async function measureFirehoseTransform(log: (line: string) => void = () => undefined): Promise<MeasuredTransform> {
  const dir = await mkdtemp(join(tmpdir(), 'datastroom-firehose-'));
  try {
    const memoryMb = TRANSFORM_FUNCTION.memoryMb;
    const sizes: MeasuredTransform['sizes'] = [];
    for (const readings of FIREHOSE_SIZES) {
      const object = await writeFirehoseObject(dir, readings);
      log(`firehose: ${readings} readings (${((await stat(object.file)).size / 1024).toFixed(1)} KiB gzip), ${WARM_RUNS} warm runs...`);
      const result = await job(object.file, object.key, memoryMb, WARM_RUNS);
      if (result.readings !== readings) throw new Error(`the transform read ${result.readings} of ${readings} readings`);
      sizes.push({
        readings,
        gzipBytes: (await stat(object.file)).size,
        curatedBytes: result.curatedBytes,
        payloadBytes: object.payloadBytes,
        warmMs: Math.round(median(result.warmMs) * 10) / 10,
        coldMs: Math.round(result.coldMs),
        peakRssMb: Math.round(result.maxRssMb),
        fastPath: !result.canonicalised,
      });
    }
    // The largest object the delivery buffer lets through (Firehose applies the size before compression).
    const perReading = (await writeFirehoseObject(dir, 100)).rawBytes / 100;
    const fullReadings = Math.floor((DELIVERY_BUFFERING.sizeMiB * 2 ** 20) / perReading);
    const full = await writeFirehoseObject(dir, fullReadings);
    log(`firehose: a full ${DELIVERY_BUFFERING.sizeMiB} MiB buffer, ${fullReadings} readings...`);
    const fullResult = await job(full.file, full.key, memoryMb, 2);
    const measured: MeasuredTransform = {
      measuredAt: new Date().toISOString().slice(0, 10),
      machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      functionMemoryMb: memoryMb,
      sizes,
      fullBuffer: { readings: fullReadings, warmMs: Math.round(median(fullResult.warmMs)), peakRssMb: Math.round(fullResult.maxRssMb) },
    };
    await writeFile(MEASURED_TRANSFORM_FILE, `${JSON.stringify(MeasuredTransform.parse(measured), null, 2)}\n`);
    return measured;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === import.meta.filename) {
  const measured = await measureFirehoseTransform((line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`${JSON.stringify(measured)}\n`);
}
