import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import type { RunSummary } from '../../local/stats.ts';
import { tempDir } from './fixtures.ts';

/** The clear-text plate the seeded data dir holds in its raw zone. */
export const SEEDED_PLATE = '1-ABC-123';

/** A data dir filled by the real local platform, and what its run reported. */
export interface SeededDataDir {
  readonly dataDir: string;
  readonly summary: RunSummary;
}

/**
 * A data dir as `datastroom dev` leaves it, filled over MQTT: three air
 * quality readings (two sensors, two hours) and two ANPR passages of
 * {@link SEEDED_PLATE} curated, one air quality reading quarantined
 * (`pm25` "12,5"). Raw holds the plate in clear; state holds the key.
 */
export async function seededDataDir(lifetime: 'test' | 'file' = 'file'): Promise<SeededDataDir> {
  const dataDir = await tempDir('datastroom-seeded-', lifetime);
  const platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, buffering: { maxAgeMs: 60_000 }, log: () => {} });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'seed' });
  const hourAgo = new Date(Date.now() - 3_600_000);
  const now = new Date();
  const air = (ts: Date, pm25: unknown) => JSON.stringify({ ts: brusselsIso(ts), pm25, pm10: 20, no2: 31 });
  const anpr = (ts: Date, lane: number) => JSON.stringify({ ts: brusselsIso(ts), direction: 'in', lane, plate: SEEDED_PLATE, confidence: 0.97 });
  await client.publishAsync('datastroom/air_quality/aq-1', air(hourAgo, 10), { qos: 1 });
  await client.publishAsync('datastroom/air_quality/aq-1', air(now, 20), { qos: 1 });
  await client.publishAsync('datastroom/air_quality/aq-2', air(now, 30), { qos: 1 });
  await client.publishAsync('datastroom/air_quality/aq-2', air(now, '12,5'), { qos: 1 });
  await client.publishAsync('datastroom/anpr_passage/cam-1', anpr(now, 1), { qos: 1 });
  await client.publishAsync('datastroom/anpr_passage/cam-1', anpr(now, 2), { qos: 1 });
  await client.endAsync();
  return { dataDir, summary: await platform.stop() };
}

/** Every entry under a directory with its kind, size and modification time: equal snapshots mean nothing was written. */
export async function fileTree(dir: string): Promise<Map<string, string>> {
  const tree = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true }).catch(() => [] as string[])) {
    const info = await lstat(join(dir, entry));
    tree.set(entry, `${info.isDirectory() ? 'dir' : 'file'} ${info.size} ${info.mtimeMs}`);
  }
  return tree;
}
