/**
 * Number plates, sent the ways that once kept them in clear: as a number (in
 * the plate field, as the whole reading, as array elements, under an unknown
 * key, out of range in a numeric field), as text that looks like a time, as a key, as an array element, in the
 * wrong field, in a payload that is not JSON, beside a lone surrogate. Published
 * over real MQTT to the real platform; afterwards no quarantine record,
 * reason, curated file or log line holds a plate in clear. And a transform
 * killed with kill -9 leaves its scratch copy behind only until the next start.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { pseudonym } from '../../functions/core/pseudonymise.ts';
import { dataDirLayout, loadPseudonymKey } from '../../local/data-dir.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import { startDev, until } from '../helpers/dev-process.ts';
import { quarantineRecords, tempDir } from '../helpers/fixtures.ts';

const now = () => brusselsIso(new Date());
const passage = (extra: Record<string, unknown>) => ({ ts: now(), direction: 'in', lane: 1, plate: '9-OKK-999', confidence: 0.9, ...extra });
const json = (v: unknown) => JSON.stringify(v);

/** Plates that must never appear in clear, and the payload each arrives in. */
const CASES: readonly { plate: string; payload: string; reason: RegExp }[] = [
  { plate: '1234567', payload: json(passage({ plate: 1234567 })), reason: /^plate must be a string, got number \(value withheld/ },
  { plate: 'TZT-123', payload: json(passage({ ts: 'TZT-123' })), reason: /^ts must be an ISO 8601 time with offset .*got \(value withheld/ },
  { plate: '1-XYZ-987', payload: json({ ...passage({}), plate: undefined, '1-XYZ-987': true }), reason: /^plate is required$/ },
  { plate: '2-QQQ-222', payload: json(passage({ lane: 0, seen: ['2-QQQ-222'] })), reason: /^lane must be at least 1, got \(value withheld/ },
  { plate: '3-RRR-333', payload: json(passage({ direction: '3-RRR-333' })), reason: /^direction must be one of "in", "out", got \(value withheld/ },
  { plate: '4-SSS-444', payload: `{"plate":"4-SSS-444",`, reason: /^payload is not valid JSON$/ },
  { plate: '5-TTT-555', payload: `{"ts":"${now()}","direction":"in","lane":1,"plate":"5-TTT-555","confidence":0.9,"note":"\\ud800"}`, reason: /^reading is not valid Unicode/ },
  { plate: '6-UUU-666', payload: json([passage({ plate: '6-UUU-666', confidence: 2 }), '7-VVV-777']), reason: /^(confidence must be at most 1, got \(value withheld: may be personal data\)|reading must be a JSON object, got string)$/ },
  // An all-digit plate as the whole reading, as readings of an array, under an unknown key.
  { plate: '987650017', payload: '987650017', reason: /^reading must be a JSON object, got number$/ },
  { plate: '987650015', payload: '[987650015,987650016]', reason: /^reading must be a JSON object, got number$/ },
  { plate: '987650018', payload: json(passage({ plate: null, id: 987650018 })), reason: /^plate must be a string, got null$/ },
  // In a numeric field, out of its range: curated would never show it, so neither do quarantine and reasons.
  { plate: '987650019', payload: json(passage({ lane: 987650019, confidence: 987650020 })), reason: /^lane must be at most 8, got \(value withheld.*; confidence must be at most 1, got \(value withheld/ },
];
const PLATES = [...CASES.map((c) => c.plate), '7-VVV-777', '987650016', '987650020', '9-OKK-999'];

/** Every plate spelling a reader could recognise: as sent, and canonical (upper case, no separators). */
const spellings = PLATES.flatMap((p) => [p, p.replace(/[-.\s]/g, '')]);

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map((f) => join(dir, f));
}

describe('personal data, sent every wrong way over real MQTT', () => {
  it('never reaches quarantine, reasons, curated files or logs in clear', async () => {
    const dataDir = await tempDir();
    const logs: string[] = [];
    const platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, buffering: { maxAgeMs: 60_000 }, log: (l) => logs.push(l) });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'cam-test' });
    for (const [i, c] of CASES.entries()) await client.publishAsync(`datastroom/anpr_passage/cam-${i}`, c.payload, { qos: 1 });
    await client.publishAsync('datastroom/anpr_passage/cam-ok', json(passage({})), { qos: 1 });
    await client.endAsync();
    const summary = await platform.stop();
    expect(summary.datasets.anpr_passage).toEqual({ received: 15, curated: 1, quarantined: 14, duplicates: 0 });
    expect(summary.failedObjects).toBe(0);

    const records = await quarantineRecords<{ reason: string; sensorId: string; payload?: unknown }>(dataDir);
    expect(records).toHaveLength(14);
    for (const [i, c] of CASES.entries()) {
      const mine = records.filter((r) => r.sensorId === `cam-${i}`);
      expect(mine.length, c.plate).toBeGreaterThan(0);
      for (const r of mine) expect(r.reason, c.plate).toMatch(c.reason);
    }
    // The plate sent as a number still links: it has the plate's pseudonym.
    const key = await loadPseudonymKey(dataDirLayout(dataDir));
    expect(records.find((r) => r.sensorId === 'cam-0')?.payload).toMatchObject({ plate: pseudonym(key, '1234567') });

    const quarantineText = JSON.stringify(records);
    const engine = await LocalQueryEngine.open(dataDir);
    const curated = JSON.stringify((await engine.query('SELECT * FROM anpr_passage')).rows);
    engine.close();
    expect(curated).toContain(pseudonym(key, '9-OKK-999'));
    for (const plate of spellings) {
      expect(quarantineText, `quarantine holds ${plate}`).not.toContain(plate);
      expect(curated, `curated holds ${plate}`).not.toContain(plate);
      expect(logs.join('\n'), `logs hold ${plate}`).not.toContain(plate);
    }
  });
});

describe('a transform killed with kill -9', () => {
  it('leaves nothing in scratch after the next start, and its object is transformed then', async () => {
    const dataDir = await tempDir();
    const scratch = dataDirLayout(dataDir).scratch;
    const dev = await startDev(dataDir, ['--flush-bytes', '400000']);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${dev.port}`, { clientId: 'cam-bulk' });
    // Arrays make the transform write a canonical copy of the object, plates in clear, into scratch.
    const batch = (b: number) => json(Array.from({ length: 100 }, (_, i) => passage({ plate: `1-ABC-${String(b * 100 + i).padStart(4, '0')}` })));
    let sent = 0;
    let acknowledged = 0;
    let seen: string[] = [];
    const poll = setInterval(() => {
      void readdir(scratch, { recursive: true })
        .then((files) => {
          if (files.some((f) => /canonical\.jsonl(\.gz)?$/.test(f))) seen = files;
        })
        .catch(() => undefined);
    }, 2);
    const publisher = (async () => {
      while (seen.length === 0 && sent < 2000) {
        await client.publishAsync('datastroom/anpr_passage/cam-bulk', batch(sent++), { qos: 1 });
        acknowledged += 1;
      }
    })();
    await until(() => seen.length > 0, 'a canonical copy in scratch', () => dev.gone() ?? (sent >= 2000 ? 'no transform was caught under way' : undefined));
    clearInterval(poll);
    spawn('kill', ['-9', String(dev.pid)]);
    await dev.exited;
    // Its last publish is never acknowledged: the client is dropped, not awaited.
    void publisher.catch(() => undefined);
    client.end(true);

    // The killed transform left its copy, plates in clear, readable by its owner only.
    const leftovers = await filesUnder(scratch);
    expect(leftovers.length).toBeGreaterThan(0);
    expect((await stat(scratch)).mode & 0o777).toBe(0o700);

    // The next start empties scratch before anything else, then transforms what the kill interrupted.
    const again = await startDev(dataDir, ['--duration', '1']);
    expect(await again.exited).toBe(0);
    expect(await filesUnder(scratch)).toEqual([]);
    const summary = again.summary();
    expect(summary.failedObjects).toBe(0);
    const engine = await LocalQueryEngine.open(dataDir);
    const { rows } = await engine.query("SELECT count(*), count(*) FILTER (WHERE plate LIKE '1-ABC-%') FROM anpr_passage");
    engine.close();
    const [total, clear] = rows[0] as [number, number];
    expect(clear).toBe(0);
    // Every acknowledged reading is curated once; the one batch in flight at the kill may or may not be.
    expect(total % 100).toBe(0);
    expect(total / 100).toBeGreaterThanOrEqual(acknowledged);
    expect(total / 100).toBeLessThanOrEqual(sent);
    for (const file of (await filesUnder(join(dataDir, 'curated'))).filter((f) => f.endsWith('.parquet'))) expect((await readFile(file)).includes('1-ABC-')).toBe(false);
  }, 120_000);
});
