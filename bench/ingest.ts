/**
 * Ingest throughput: QoS 1 messages from one publisher, first through the
 * plain embedded broker to a subscriber (the reference), then through the
 * platform's broker into durable raw buffers (acknowledged once on disk).
 */
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { getDataset } from '../datasets/index.ts';
import { topicFor } from '../functions/core/envelope.ts';
import { startBroker } from '../local/broker.ts';
import { Ingest } from '../local/ingest.ts';
import { BUFFERING_DEFAULTS } from '../local/raw-buffer.ts';
import { brusselsIso, plausibleReading, seededRandom } from '../local/readings.ts';

function messages(count: number): { topic: string; payload: string }[] {
  const air = getDataset('air_quality');
  const random = seededRandom(3);
  const now = new Date();
  return Array.from({ length: count }, (_, i) => {
    const reading = plausibleReading(air, now, random);
    reading.ts = brusselsIso(new Date(now.getTime() + i));
    return { topic: topicFor(air.id, `aq-${i % 100}`), payload: JSON.stringify(reading) };
  });
}

async function publishAll(url: string, batch: readonly { topic: string; payload: string }[]): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId: `bench-pub-${Date.now()}` });
  await Promise.all(batch.map((m) => client.publishAsync(m.topic, m.payload, { qos: 1 })));
  await client.endAsync();
}

async function plainRate(batch: readonly { topic: string; payload: string }[]): Promise<number> {
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const url = `mqtt://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const subscriber = await mqtt.connectAsync(url, { clientId: 'bench-sub' });
  await subscriber.subscribeAsync('datastroom/#', { qos: 1 });
  let received = 0;
  const all = new Promise<void>((resolve) =>
    subscriber.on('message', () => {
      received += 1;
      if (received === batch.length) resolve();
    }),
  );
  const started = performance.now();
  await publishAll(url, batch);
  await all;
  const seconds = (performance.now() - started) / 1000;
  await subscriber.endAsync();
  await new Promise<void>((r) => aedes.close(() => r()));
  await new Promise<void>((r) => server.close(() => r()));
  return batch.length / seconds;
}

async function durableRate(batch: readonly { topic: string; payload: string }[], dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  let sealed = 0;
  const ingest = new Ingest(join(dir, 'state', 'buffers'), dir, BUFFERING_DEFAULTS, () => {
    sealed += 1;
  });
  const broker = await startBroker({ port: 0, ingest });
  const started = performance.now();
  await publishAll(`mqtt://127.0.0.1:${broker.port}`, batch);
  const seconds = (performance.now() - started) / 1000;
  await broker.close();
  await ingest.sealAll();
  if (sealed === 0) throw new Error('ingest sealed no raw object');
  return batch.length / seconds;
}

/** Messages per second of both paths, on the same messages. */
export async function measureIngest(count: number, dir: string): Promise<{ plainRate: number; durableRate: number }> {
  const batch = messages(count);
  // A short warm-up of both paths keeps JIT compilation out of the measurement.
  await plainRate(batch.slice(0, 2000));
  await durableRate(batch.slice(0, 2000), join(dir, 'warmup'));
  const plain = await plainRate(batch);
  const durable = await durableRate(batch, join(dir, 'run'));
  return { plainRate: plain, durableRate: durable };
}
