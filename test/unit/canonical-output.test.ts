/**
 * The pre-pass writes its canonical lines as plain text while they stay
 * within the limit it is given, and starts again compressed past it (arrays
 * of tiny readings): the same lines either way, and no plain file left behind.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { getDataset } from '../../datasets/index.ts';
import { canonicaliseRawObject } from '../../functions/core/raw-lines.ts';
import { tempDir } from '../helpers/fixtures.ts';

const uplink = (i: number) =>
  JSON.stringify({
    messageId: `m${i}`,
    sensorId: 'aq-1',
    receivedAt: '2026-11-29T10:00:01.000Z',
    payload: { end_device_ids: { device_id: 'aq-1' }, uplink_message: { decoded_payload: { pm2_5: 12.5, pm10: 20 }, received_at: '2026-11-29T10:00:00Z' } },
  });
const flood = JSON.stringify({ messageId: 'f', sensorId: 'aq-2', receivedAt: '2026-11-29T10:00:01.000Z', payload: Array(2000).fill(1) });

describe('canonical output', () => {
  it('is plain within the limit, and compressed, with the same lines, past it', async () => {
    const dir = await tempDir();
    const raw = join(dir, 'raw.jsonl');
    await writeFile(raw, [uplink(1), flood, uplink(2)].join('\n') + '\n');
    const options = { rawName: 'raw', personal: false, dataset: getDataset('air_quality') };

    const plain = await canonicaliseRawObject(raw, join(dir, 'a.jsonl'), options);
    expect(plain).toBe(join(dir, 'a.jsonl'));
    const lines = (await readFile(plain, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(2002);
    expect(JSON.parse(lines[0] as string)).toEqual({
      messageId: 'm1',
      sensorId: 'aq-1',
      receivedAt: '2026-11-29T10:00:01.000Z',
      format: 'ttn-v3',
      payload: { ts: '2026-11-29T10:00:00.000Z', pm25: 12.5, pm10: 20 },
    });

    const compressed = await canonicaliseRawObject(raw, join(dir, 'b.jsonl'), { ...options, plainLimit: 1000 });
    expect(compressed).toBe(join(dir, 'b.jsonl.gz'));
    expect(existsSync(join(dir, 'b.jsonl'))).toBe(false);
    expect(gunzipSync(await readFile(compressed)).toString('utf8')).toBe(await readFile(plain, 'utf8'));
  });
});
