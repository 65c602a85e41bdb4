/**
 * The transform of readings in vendor formats vs the same readings native:
 * one raw object of The Things Stack uplinks and NGSI-v2 keyValues entities
 * (alternating), one of the same readings as the platform's own JSON, each
 * transformed in its own process, in turn. The ratio is vendor rows/s over
 * native rows/s (target >= 0.5: at least half as fast).
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { getDataset } from '../datasets/index.ts';
import { messageIdFor, rawLine, topicFor } from '../functions/core/envelope.ts';
import { brusselsIso, plausibleReading, seededRandom } from '../local/readings.ts';

const exec = promisify(execFile);

/** What the formats benchmark measured. */
export interface FormatsMeasure {
  readonly readings: number;
  readonly nativeRowsPerSecond: number;
  readonly vendorRowsPerSecond: number;
  readonly ratio: number;
}

/** Writes the two raw objects of the same readings: native, and as uplinks and NGSI entities. */
async function generate(nativeFile: string, vendorFile: string, readings: number): Promise<void> {
  const air = getDataset('air_quality');
  const random = seededRandom(11);
  const native = createWriteStream(nativeFile);
  const vendor = createWriteStream(vendorFile);
  const start = Date.parse('2026-11-29T00:00:00Z');
  let n: string[] = [];
  let v: string[] = [];
  for (let i = 0; i < readings; i++) {
    const at = new Date(start + i * 50);
    const sensor = `aq-${String(i % 500).padStart(3, '0')}`;
    const topic = topicFor(air.id, sensor);
    const r = plausibleReading(air, at, random);
    const reading = { ts: brusselsIso(at), pm25: r.pm25, pm10: r.pm10, no2: r.no2 };
    const payload =
      i % 2 === 0
        ? {
            end_device_ids: { device_id: sensor, application_ids: { application_id: 'city-air' } },
            received_at: new Date(at.getTime() + 300).toISOString(),
            uplink_message: { f_port: 1, frm_payload: 'AQID', decoded_payload: { pm2_5: r.pm25, pm10: r.pm10, no2: r.no2 }, received_at: at.toISOString() },
          }
        : { id: `urn:ngsi-ld:AirQualityObserved:${sensor}`, type: 'AirQualityObserved', dateObserved: reading.ts, pm25: r.pm25, pm10: r.pm10, no2: r.no2 };
    const received = new Date(at.getTime() + 1500);
    const nb = Buffer.from(JSON.stringify(reading));
    const vb = Buffer.from(JSON.stringify(payload));
    n.push(rawLine(sensor, messageIdFor(topic, nb), received, nb));
    v.push(rawLine(sensor, messageIdFor(topic, vb), received, vb));
    if (n.length === 10_000) {
      if (!native.write(n.join('\n') + '\n')) await once(native, 'drain');
      if (!vendor.write(v.join('\n') + '\n')) await once(vendor, 'drain');
      n = [];
      v = [];
    }
  }
  native.end(n.length ? n.join('\n') + '\n' : '');
  vendor.end(v.length ? v.join('\n') + '\n' : '');
  await Promise.all([once(native, 'finish'), once(vendor, 'finish')]);
}

async function transformJob(rawFile: string, rawKey: string): Promise<{ rows: number; seconds: number }> {
  const { stdout } = await exec(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'transform-job.ts'), 'transform', rawFile, rawKey], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { rows: number; seconds: number };
}

/** Median rates of `runs` transforms of each object, in turn. */
export async function measureFormats(readings = Number(process.env.BENCH_FORMAT_ROWS ?? 200_000), runs = 3): Promise<FormatsMeasure> {
  const root = await mkdtemp(join(tmpdir(), 'datastroom-bench-formats-'));
  try {
    const dir = join(root, 'raw/air_quality/dt=2026-11-29');
    await mkdir(dir, { recursive: true });
    const nativeKey = 'raw/air_quality/dt=2026-11-29/air_quality-20261129T000000000Z-native00.jsonl';
    const vendorKey = 'raw/air_quality/dt=2026-11-29/air_quality-20261129T000000000Z-vendor00.jsonl';
    await generate(join(root, nativeKey), join(root, vendorKey), readings);
    const nativeRates: number[] = [];
    const vendorRates: number[] = [];
    for (let i = 0; i < runs; i++) {
      const a = await transformJob(join(root, nativeKey), nativeKey);
      const b = await transformJob(join(root, vendorKey), vendorKey);
      nativeRates.push(a.rows / a.seconds);
      vendorRates.push(b.rows / b.seconds);
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
    const nativeRowsPerSecond = Math.round(median(nativeRates));
    const vendorRowsPerSecond = Math.round(median(vendorRates));
    return { readings, nativeRowsPerSecond, vendorRowsPerSecond, ratio: Math.round((vendorRowsPerSecond / nativeRowsPerSecond) * 100) / 100 };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The benchmark's table row. */
export function formatsRow(m: FormatsMeasure): [string, string, string, string] {
  return [`vendor formats rows/s (${m.readings} TTS + NGSI readings)`, String(m.vendorRowsPerSecond), `same readings native ${m.nativeRowsPerSecond}`, `${m.ratio} (target >= 0.5)`];
}

if (process.argv[1] === import.meta.filename) {
  const m = await measureFormats(undefined, Number(process.env.BENCH_FORMAT_RUNS ?? 3));
  process.stdout.write(`${formatsRow(m).join('  ')}\n${JSON.stringify({ formats: m })}\n`);
}
