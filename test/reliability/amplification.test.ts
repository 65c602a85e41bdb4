/**
 * Amplification: messages at IoT Core's size limit, each a JSON array of the
 * tiniest invalid readings (`[1,1,...]`, `[{},{},...]`), published over real
 * MQTT into one raw object of close to a million refused readings. The
 * transform once built its quarantine as one string and crashed on every
 * start under a 1.5 GB heap; here `dev` runs with a 256 MB heap, every
 * reading is quarantined, and the process stays under the 512 MB target.
 * And many senders at once cannot make a raw object (the unit of a
 * transform's work) larger than the buffer's size hint.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES } from '../../functions/core/envelope.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import { startDev, until } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/fixtures.ts';

const MESSAGES_PER_KIND = 8;

/** A payload at the size limit: an array of one tiny element, repeated. */
function flood(element: string): { payload: Buffer; readings: number } {
  const readings = Math.floor((MAX_PAYLOAD_BYTES - 2) / (element.length + 1));
  return { payload: Buffer.from(`[${Array(readings).fill(element).join(',')}]`), readings };
}

/** The peak resident memory (VmHWM) of a process, in MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

describe('a flood of tiny invalid readings', () => {
  it('is quarantined reading by reading, in bounded memory, with a 256 MB heap', async () => {
    const dataDir = await tempDir();
    // Everything goes into one raw object: no seal before the stop.
    const dev = await startDev(dataDir, ['--flush-ms', '600000', '--flush-bytes', String(64 * 1024 * 1024)], 'NODE_OPTIONS=--max-old-space-size=256 ');
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${dev.port}`, { clientId: 'flooder' });
    const numbers = flood('1');
    const objects = flood('{}');
    for (let m = 0; m < MESSAGES_PER_KIND; m++) {
      await client.publishAsync(`datastroom/air_quality/flood-n${m}`, numbers.payload, { qos: 1 });
      await client.publishAsync(`datastroom/air_quality/flood-o${m}`, objects.payload, { qos: 1 });
    }
    await client.endAsync();

    let peak = 0;
    const sampler = setInterval(() => {
      // An exited process (a zombie until reaped) reports no VmHWM: such a sample is no sample.
      void peakRssMb(dev.pid).then((mb) => (peak = Number.isFinite(mb) ? Math.max(peak, mb) : peak), () => undefined);
    }, 50);
    dev.interrupt();
    await until(() => dev.gone() !== undefined, 'dev to transform and stop');
    clearInterval(sampler);
    expect(await dev.exited).toBe(0);

    const readings = MESSAGES_PER_KIND * (numbers.readings + objects.readings);
    expect(readings).toBeGreaterThan(850_000);
    expect(dev.summary()).toMatchObject({
      received: readings,
      curated: 0,
      quarantined: readings,
      duplicates: 0,
      failedObjects: 0,
      datasets: { air_quality: { received: readings, curated: 0, quarantined: readings, duplicates: 0 } },
    });
    expect(peak, 'peak resident memory of dev, MB').toBeGreaterThan(0);
    expect(peak, 'peak resident memory of dev, MB').toBeLessThan(512);

    // Each reading its own record, with its own id and its reason (read as a stream: there are close to a million).
    const ids = new Set<string>();
    const reasons = new Map<string, number>();
    for (const file of (await readdir(join(dataDir, 'quarantine'), { recursive: true })).filter((f) => f.endsWith('.jsonl.gz'))) {
      const lines = createInterface({ input: createReadStream(join(dataDir, 'quarantine', file)).pipe(createGunzip()), crlfDelay: Infinity });
      for await (const line of lines) {
        const { reason, messageId } = JSON.parse(line) as { reason: string; messageId: string };
        ids.add(messageId);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
    }
    expect(ids.size).toBe(readings);
    expect(Object.fromEntries(reasons)).toEqual({
      'reading must be a JSON object, got number': MESSAGES_PER_KIND * numbers.readings,
      'ts is required; pm25 is required; pm10 is required': MESSAGES_PER_KIND * objects.readings,
    });
  }, 180_000);
});

describe('many senders of large messages at once', () => {
  it('never make a raw object pass the size hint by more than one line, and every message is curated once', async () => {
    const dataDir = await tempDir();
    const maxBytes = 1024 * 1024;
    const platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, buffering: { maxBytes, maxAgeMs: 600_000 }, log: () => undefined });
    const url = `mqtt://127.0.0.1:${platform.port}`;
    const CLIENTS = 30;
    const EACH = 3;
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, c) => mqtt.connectAsync(url, { clientId: `big-${c}` })));
    // Near the size limit: a reading with a long note, each message distinct.
    const note = 'x'.repeat(MAX_PAYLOAD_BYTES - 200);
    const ts = brusselsIso(new Date());
    await Promise.all(
      clients.flatMap((client, c) =>
        Array.from({ length: EACH }, (_, k) =>
          client.publishAsync(`datastroom/air_quality/big-${c}`, JSON.stringify({ ts, pm25: c, pm10: k, no2: 1, note }), { qos: 1 }),
        ),
      ),
    );
    await Promise.all(clients.map((client) => client.endAsync()));
    const summary = await platform.stop();
    expect(summary).toMatchObject({ received: CLIENTS * EACH, curated: CLIENTS * EACH, quarantined: 0, duplicates: 0, failedObjects: 0 });

    const raw = join(dataDir, 'raw', 'air_quality');
    const objects = (await readdir(raw, { recursive: true })).filter((f) => f.endsWith('.jsonl'));
    let lines = 0;
    for (const object of objects) {
      const text = await readFile(join(raw, object), 'utf8');
      const own = text.trim().split('\n');
      lines += own.length;
      const last = (own.at(-1)?.length ?? 0) + 1;
      expect(text.length - last, `${object} before its last line`).toBeLessThan(maxBytes);
    }
    expect(lines).toBe(CLIENTS * EACH);
    expect(objects.length).toBeGreaterThanOrEqual(Math.ceil((CLIENTS * EACH * MAX_PAYLOAD_BYTES) / (maxBytes + MAX_PAYLOAD_BYTES)));
  }, 120_000);
});
