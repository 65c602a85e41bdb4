/**
 * A raw zone `dev` cannot seal into: the failure is reported while it runs,
 * `dev` exits non-zero saying what stayed behind, and the next start, once
 * the cause is gone, recovers and curates every acknowledged reading.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { LocalQueryEngine } from '../../local/query.ts';
import { leftoverBuffers } from '../../local/raw-buffer.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startDev, until } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/fixtures.ts';

const BIN = resolve(import.meta.dirname, '../../bin/datastroom.mjs');
const READINGS = 500;

describe('a seal that fails', () => {
  it('is reported, makes `dev` exit non-zero, and loses nothing: the next start recovers every acknowledged reading', async () => {
    const dataDir = await tempDir();
    // A file where the dataset's raw directory belongs: no partition can be made in it, whoever runs (root ignores permission bits).
    const blocker = join(dataDir, 'raw', 'water_level');
    await mkdir(join(dataDir, 'raw'), { recursive: true });
    await writeFile(blocker, '');

    const dev = await startDev(dataDir, ['--flush-ms', '200']);
    let left: string[];
    try {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${dev.port}`, { clientId: 'wl-seal' });
      const base = Date.now() - 60_000;
      for (let i = 0; i < READINGS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            client.publishAsync('datastroom/water_level/wl-seal', JSON.stringify({ ts: brusselsIso(new Date(base + i + j)), level_cm: i + j }), { qos: 1 }),
          ),
        );
      }
      await client.endAsync();
      // Reported while running, by the age seal, not only at stop.
      await until(() => dev.stderr().includes('cannot seal'), 'the failed seal to be reported', dev.gone);
      dev.interrupt();
      expect(await dev.exited).toBe(1);

      const stderr = dev.stderr();
      expect(stderr.match(/^cannot seal .*water_level-.*\.jsonl into the raw zone: .*; buffers stay in .*, are retried, and are recovered at the next start$/gm)).toHaveLength(1);
      left = await leftoverBuffers(join(dataDir, 'state', 'buffers'));
      expect(left.length).toBeGreaterThan(0);
      expect(stderr).toContain(`${left.length} raw buffer file(s) could not be sealed into the raw zone; they stay in ${join(dataDir, 'state', 'buffers')}`);
      expect(stderr).toMatch(new RegExp(`^datastroom dev: ${left.length} raw buffer file\\(s\\) could not be sealed into .*; their messages are safe where they are`, 'm'));
      const lines = (await Promise.all(left.map((f) => readFile(f, 'utf8')))).join('').split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(READINGS);
      expect(dev.summary().datasets.water_level).toEqual({ received: 0, duplicates: 0, curated: 0, quarantined: 0 });
    } finally {
      await dev.kill();
    }

    await rm(blocker);
    const restart = await promisify(execFile)(process.execPath, [BIN, 'dev', '--no-simulate', '--port', '0', '--duration', '1', '--summary-json', '--data-dir', dataDir]);
    expect(restart.stderr.match(/^recovered raw\/water_level\/dt=\S+ from an unfinished buffer$/gm)).toHaveLength(left.length);
    const summary = JSON.parse(restart.stdout.trim().split('\n').at(-1)!);
    expect(summary.datasets.water_level).toEqual({ received: READINGS, duplicates: 0, curated: READINGS, quarantined: 0 });
    expect(await leftoverBuffers(join(dataDir, 'state', 'buffers'))).toEqual([]);
    const engine = await LocalQueryEngine.open(dataDir);
    const { rows } = await engine.query('SELECT count(*), count(DISTINCT level_cm), min(level_cm), max(level_cm) FROM water_level');
    engine.close();
    expect(rows).toEqual([[READINGS, READINGS, 0, READINGS - 1]]);
  });
});
