import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { messageIdFor, rawLine, topicFor } from '../../functions/core/envelope.ts';

/** A fixed test key: pseudonyms in tests are reproducible. */
export const TEST_KEY = Buffer.alloc(32, 7);

const perTest: string[] = [];
const perFile: string[] = [];
afterEach(async () => {
  for (const dir of perTest.splice(0)) await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  for (const dir of perFile.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A temporary directory, removed after the test (or, made in beforeAll, after the file's tests). */
export async function tempDir(prefix = 'datastroom-test-', lifetime: 'test' | 'file' = 'test'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  (lifetime === 'test' ? perTest : perFile).push(dir);
  return dir;
}

/** One arrival as the ingest would record it. */
export interface ArrivalSpec {
  readonly dataset: string;
  readonly sensor?: string;
  /** A reading object, or raw payload text/bytes. */
  readonly payload: unknown;
  readonly receivedAt?: Date;
}

/** The raw line of an arrival, exactly as the local ingest writes it. */
export function arrivalLine(spec: ArrivalSpec): string {
  const sensor = spec.sensor ?? 'sensor-1';
  const topic = topicFor(spec.dataset, sensor);
  const bytes =
    Buffer.isBuffer(spec.payload) ? spec.payload
    : typeof spec.payload === 'string' ? Buffer.from(spec.payload)
    : Buffer.from(JSON.stringify(spec.payload));
  return rawLine(sensor, messageIdFor(topic, bytes), spec.receivedAt ?? new Date('2026-11-29T10:00:05Z'), bytes);
}

/**
 * The record the cloud's topic rule writes for an arrival (see ingestSql):
 * the envelope and the payload's bytes in base64, whatever they are.
 */
export function ruleRecordLine(spec: ArrivalSpec): string {
  const sensor = spec.sensor ?? 'sensor-1';
  const bytes =
    Buffer.isBuffer(spec.payload) ? spec.payload
    : typeof spec.payload === 'string' ? Buffer.from(spec.payload)
    : Buffer.from(JSON.stringify(spec.payload));
  return JSON.stringify({
    messageId: messageIdFor(topicFor(spec.dataset, sensor), bytes),
    sensorId: sensor,
    receivedAt: (spec.receivedAt ?? new Date('2026-11-29T10:00:05Z')).toISOString(),
    payloadBase64: bytes.toString('base64'),
  });
}

/** Writes a raw object file of arrivals; returns its path. */
export async function writeRawObject(dir: string, lines: readonly string[], name = 'raw.jsonl'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, lines.map((l) => `${l}\n`).join(''));
  return file;
}

/** A valid air-quality reading at a given event time. */
export function airReading(ts = '2026-11-29T11:00:00+01:00', values: Partial<Record<'pm25' | 'pm10' | 'no2', unknown>> = {}) {
  return { ts, pm25: 12.5, pm10: 20, no2: 31, ...values };
}

/** Every quarantine record under a data dir (or any folder of quarantine objects), gzip or not. */
export async function quarantineRecords<T = Record<string, unknown>>(root: string): Promise<T[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const { gunzipSync } = await import('node:zlib');
  const dir = join(root, 'quarantine');
  const records: T[] = [];
  for (const file of (await readdir(dir, { recursive: true }).catch(() => [] as string[])).sort()) {
    if (!/\.jsonl(\.gz)?$/.test(file)) continue;
    const bytes = await readFile(join(dir, file));
    const text = (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
    for (const line of text.split('\n')) if (line.trim() !== '') records.push(JSON.parse(line) as T);
  }
  return records;
}
