/**
 * A full disk under the local platform: 20,000 QoS 1 readings from real MQTT
 * clients through the real broker, space runs out part-way and returns.
 * Every acknowledged reading must end up in the raw zone and in curated,
 * none lost, none merged with another; refused ones are resent by their
 * clients. The disk fills three ways: an injected file system with a block
 * budget (always), a real small tmpfs where mounting is allowed, else a real
 * file size limit (ulimit -f) on the platform's process.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { messageIdFor, topicFor } from '../../functions/core/envelope.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import type { RunSummary } from '../../local/stats.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { startDev, until, type DevProcess } from '../helpers/dev-process.ts';
import { SmallDisk } from '../helpers/small-disk.ts';

const DATASET = 'water_level';
const READINGS = 20_000;
const CLIENTS = 20;
const FULL = /^data directory full: .*; messages are not acknowledged until space returns$/gm;
const WRITABLE = /^data directory writable again: acknowledging messages \(\d+ refused meanwhile; their senders resend them\)$/gm;

interface Message {
  readonly topic: string;
  readonly payload: string;
}

/** 20,000 distinct readings (level_cm = i / 4) from CLIENTS sensors, each with `padding` bytes in an extra field. */
function messages(padding = 0): Message[] {
  const base = Date.now() - 3_600_000;
  const extra = padding > 0 ? { note: 'x'.repeat(padding) } : {};
  return Array.from({ length: READINGS }, (_, i) => ({
    topic: topicFor(DATASET, `wl-${i % CLIENTS}`),
    payload: JSON.stringify({ ts: brusselsIso(new Date(base + i * 10)), level_cm: i / 4, ...extra }),
  }));
}

/** How the disk fills and empties in one variant. */
interface DiskControl {
  /** Whether the platform has reported the disk full. */
  reportedFull(): boolean;
  /** Gives space back (or nothing, where it returns by itself). */
  makeRoom(): Promise<void>;
  /** Why the platform can no longer answer, if it cannot (it exited). */
  failure?(): string | undefined;
}

/**
 * Publishes every message with QoS 1, one client per sensor, all at once; waits
 * until the disk is reported full and a client's resend after reconnecting
 * was refused too (the broker drops a client whose message it cannot take),
 * then makes room and waits for every acknowledgement.
 */
async function publishThroughFullDisk(url: string, batch: readonly Message[], disk: DiskControl): Promise<{ ackedWhenFull: number; ackedWhenRoomMade: number }> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, c) => mqtt.connectAsync(url, { clientId: `wl-${c}`, reconnectPeriod: 200 })));
  let acked = 0;
  const drops = clients.map(() => 0);
  clients.forEach((client, c) => {
    client.on('error', () => undefined);
    client.on('close', () => (drops[c]! += 1));
  });
  const all = Promise.all(
    batch.map((m, i) =>
      clients[i % CLIENTS]!.publishAsync(m.topic, m.payload, { qos: 1 }).then(() => {
        acked += 1;
      }),
    ),
  );
  await until(disk.reportedFull, 'the disk to be reported full', disk.failure);
  const ackedWhenFull = acked;
  await until(() => drops.some((n) => n >= 2), 'a resend to be refused as well', disk.failure);
  const ackedWhenRoomMade = acked;
  await disk.makeRoom();
  await all;
  await Promise.all(clients.map((c) => c.endAsync()));
  return { ackedWhenFull, ackedWhenRoomMade };
}

/** Every line of the dataset's raw zone, each parsed: a torn or merged line fails JSON.parse. */
async function rawRecords(dataDir: string): Promise<{ messageId: string }[]> {
  const dir = join(dataDir, 'raw', DATASET);
  const records: { messageId: string }[] = [];
  for (const file of (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.jsonl')).sort()) {
    const text = await readFile(join(dir, file), 'utf8');
    expect(text.endsWith('\n'), file).toBe(true);
    for (const line of text.slice(0, -1).split('\n')) records.push(JSON.parse(line));
  }
  return records;
}

/** Nothing acknowledged lost, nothing merged: raw holds every message, curated every reading once. */
async function expectEveryReadingKept(dataDir: string, batch: readonly Message[], summary: RunSummary): Promise<void> {
  const records = await rawRecords(dataDir);
  const expected = new Set(batch.map((m) => messageIdFor(m.topic, Buffer.from(m.payload))));
  expect(expected.size).toBe(READINGS);
  expect(new Set(records.map((r) => r.messageId))).toEqual(expected);
  // Refused lines were cut off; only acknowledged-but-lost-in-transit PUBACKs come back as duplicates.
  expect(summary.datasets[DATASET]).toEqual({
    received: records.length,
    curated: READINGS,
    quarantined: 0,
    duplicates: records.length - READINGS,
  });
  expect(summary.failedObjects).toBe(0);
  const engine = await LocalQueryEngine.open(dataDir);
  const { rows } = await engine.query(`SELECT count(*), count(DISTINCT message_id), count(DISTINCT level_cm) FROM ${DATASET}`);
  engine.close();
  expect(rows).toEqual([[READINGS, READINGS, READINGS]]);
}

function count(pattern: RegExp, text: string): number {
  return text.match(pattern)?.length ?? 0;
}

/** Capability checks of the two kernel-level ways to fill a disk; each says why it cannot run, if it cannot. */
function tmpfsCapability(): { ok: true } | { ok: false; reason: string } {
  const probe = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return { ok: true };
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return { ok: false, reason: stderr || (error instanceof Error ? error.message : String(error)) };
  } finally {
    execFileSync('rmdir', [probe]);
  }
}

function ulimitCapability(): { ok: true } | { ok: false; reason: string } {
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -f 64 && ulimit -f'], { encoding: 'utf8' }).trim();
    return out === '64' ? { ok: true } : { ok: false, reason: `ulimit -f reported ${out}` };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

const tmpfs = tmpfsCapability();
const ulimit = ulimitCapability();
// DATASTROOM_TEST_FULL_DISK=ulimit runs the file size limit variant where a tmpfs could be mounted too.
const forceUlimit = process.env.DATASTROOM_TEST_FULL_DISK === 'ulimit';
const runUlimit = ulimit.ok && (!tmpfs.ok || forceUlimit);
if (!tmpfs.ok) console.warn(`disk-full tests: no tmpfs can be mounted here (${tmpfs.reason}); a file size limit fills the disk instead`);
if (!ulimit.ok) console.warn(`disk-full tests: ulimit -f does not work here (${ulimit.reason})`);
if (tmpfs.ok && !forceUlimit) console.warn('disk-full tests: a tmpfs fills the disk; the file size limit variant is not needed (DATASTROOM_TEST_FULL_DISK=ulimit runs it)');

describe('a full disk under the local platform', () => {
  it('acknowledges only what is on disk (injected: short writes, then ENOSPC), and keeps every acknowledged reading', async () => {
    const dataDir = await tempDir();
    const logged: string[] = [];
    // About 1.5 MiB for the buffers: room for some 8,000 of the 20,000 raw lines.
    const disk = new SmallDisk(384);
    const platform = await startLocalPlatform({
      dataDir,
      port: 0,
      simulate: false,
      // Seals happen during the run, full disk or not.
      buffering: { maxBytes: 256 * 1024, maxAgeMs: 500 },
      openBufferFile: disk.open,
      log: (line) => logged.push(line),
    });
    try {
      const batch = messages();
      const run = await publishThroughFullDisk(`mqtt://127.0.0.1:${platform.port}`, batch, {
        reportedFull: () => logged.some((l) => l.startsWith('data directory full')),
        makeRoom: async () => {
          disk.freeBlocks = Infinity;
        },
      });
      const summary = await platform.stop();

      expect(run.ackedWhenFull).toBeGreaterThan(0);
      expect(run.ackedWhenRoomMade).toBeLessThan(READINGS);
      expect(disk.shortWrites).toBeGreaterThan(0);
      expect(disk.refusals).toBeGreaterThan(1);
      const log = logged.join('\n');
      expect(count(FULL, log)).toBe(1);
      expect(count(WRITABLE, log)).toBe(1);
      expect(platform.ingest.unsealed).toEqual([]);
      await expectEveryReadingKept(dataDir, batch, summary);
    } finally {
      await platform.stop();
    }
  });

  it.runIf(tmpfs.ok)('on a real tmpfs that fills up part-way and gets space back, `dev` keeps every acknowledged reading', async () => {
    const mountPoint = await tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint]);
    let dev: DevProcess | undefined;
    try {
      const dataDir = join(mountPoint, 'data');
      await mkdir(dataDir);
      // No seal and no transform while the disk is full: the buffer is the only writer then.
      dev = await startDev(dataDir, ['--flush-ms', '600000', '--flush-bytes', String(1 << 30)]);
      // Leave 512 KiB: room for some 2,500 of the 20,000 raw lines.
      const { bavail, bsize } = await statfs(mountPoint);
      const ballast = join(mountPoint, 'ballast');
      await writeFile(ballast, Buffer.alloc(Number(bavail) * Number(bsize) - 512 * 1024));
      const batch = messages();
      const stderr = dev.stderr;
      const run = await publishThroughFullDisk(`mqtt://127.0.0.1:${dev.port}`, batch, {
        reportedFull: () => count(FULL, stderr()) > 0,
        makeRoom: () => rm(ballast),
        failure: dev.gone,
      });
      dev.interrupt();
      expect(await dev.exited).toBe(0);

      expect(run.ackedWhenFull).toBeGreaterThan(0);
      expect(run.ackedWhenRoomMade).toBeLessThan(READINGS);
      expect(stderr()).toMatch(/^data directory full: .*water_level-.*\.jsonl: ENOSPC: no space left on device, write; messages/m);
      expect(count(FULL, stderr())).toBe(1);
      expect(count(WRITABLE, stderr())).toBe(1);
      await expectEveryReadingKept(dataDir, batch, dev.summary());
    } finally {
      await dev?.kill();
      execFileSync('umount', [mountPoint]);
    }
  });

  it.runIf(runUlimit)('under a file size limit (ulimit -f): short writes, then EFBIG until the buffer is sealed; `dev` keeps every acknowledged reading', async () => {
    const dataDir = await tempDir();
    // 8 MiB per file (in 512-byte blocks): each buffer fills up within its 2 s and refuses more until its seal
    // opens a new one. Readings of 2 KiB keep the state database's files, which have the same limit, far below it.
    const dev = await startDev(dataDir, ['--flush-ms', '2000', '--flush-bytes', String(1 << 30)], 'ulimit -f 16384 && ');
    try {
      const batch = messages(2048);
      const run = await publishThroughFullDisk(`mqtt://127.0.0.1:${dev.port}`, batch, {
        reportedFull: () => count(FULL, dev.stderr()) > 0,
        makeRoom: async () => undefined,
        failure: dev.gone,
      });
      dev.interrupt();
      expect(await dev.exited).toBe(0);

      expect(run.ackedWhenFull).toBeGreaterThan(0);
      expect(run.ackedWhenRoomMade).toBeLessThan(READINGS);
      expect(dev.stderr()).toMatch(/^data directory full: .*water_level-.*\.jsonl: EFBIG: file too large, write; messages/m);
      // Each sealed-off full buffer is one episode, and each ended.
      expect(count(WRITABLE, dev.stderr())).toBe(count(FULL, dev.stderr()));
      await expectEveryReadingKept(dataDir, batch, dev.summary());
    } finally {
      await dev.kill();
    }
  });
});
