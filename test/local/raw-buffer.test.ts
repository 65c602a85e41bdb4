import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BufferHealthLog,
  BufferWriteError,
  leftoverBuffers,
  openBufferFile,
  RawBuffer,
  sealBufferFile,
  sealedKeyOf,
  SealError,
  type BufferingHints,
  type OpenBufferFile,
  WRITE_RECOVERY,
} from '../../local/raw-buffer.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { errno, SmallDisk } from '../helpers/small-disk.ts';

async function setup(hints: BufferingHints, open?: OpenBufferFile, syncDirectory?: (dir: string) => Promise<void>) {
  const root = await tempDir();
  const sealed: string[] = [];
  const logged: string[] = [];
  const health = new BufferHealthLog((line) => logged.push(line));
  const buffer = new RawBuffer('air_quality', join(root, 'buffers', 'air_quality'), root, hints, (_d, key) => sealed.push(key), {
    reporter: health,
    open,
    syncDirectory,
  });
  return { root, sealed, logged, health, buffer };
}

const LONG_LIVED = { maxBytes: 1 << 20, maxAgeMs: 60_000 };

/** Text of every sealed raw object, in sealing order. */
async function sealedTexts(root: string, keys: readonly string[]): Promise<string[]> {
  return Promise.all(keys.map((key) => readFile(join(root, key), 'utf8')));
}

async function until(condition: () => boolean): Promise<void> {
  // A safety net only: the test's own timeout bounds the wait.
  while (!condition()) await new Promise((r) => setTimeout(r, 10));
}

describe('the raw buffer', () => {
  it('has a line on disk when append resolves, before any seal', async () => {
    const { root, buffer, sealed } = await setup(LONG_LIVED);
    await buffer.append('{"a":1}');
    const [file] = await leftoverBuffers(join(root, 'buffers'));
    expect(await readFile(file!, 'utf8')).toBe('{"a":1}\n');
    expect(sealed).toEqual([]);
  });

  it('writes lines appended in the same turn with one sync and keeps their order', async () => {
    const { root, buffer } = await setup(LONG_LIVED);
    await Promise.all(Array.from({ length: 100 }, (_, i) => buffer.append(`{"n":${i}}`)));
    await buffer.seal();
    const files = await readdir(join(root, 'raw', 'air_quality'), { recursive: true });
    const object = files.find((f) => f.endsWith('.jsonl'))!;
    const lines = (await readFile(join(root, 'raw', 'air_quality', object), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).n)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('seals into raw/<dataset>/dt=<arrival date>/ once the size hint is reached', async () => {
    const { buffer, sealed } = await setup({ maxBytes: 50, maxAgeMs: 60_000 });
    await buffer.append('x'.repeat(60));
    await buffer.append('y');
    await buffer.seal();
    expect(sealed).toHaveLength(2);
    for (const key of sealed) expect(key).toMatch(/^raw\/air_quality\/dt=\d{4}-\d{2}-\d{2}\/air_quality-\d{8}T\d{9}Z-[0-9a-f]{8}\.jsonl$/);
  });

  it('splits a group that would pass the size hint across raw objects: none passes it by more than one line', async () => {
    const maxBytes = 10_000;
    const { root, buffer, sealed } = await setup({ maxBytes, maxAgeMs: 60_000 });
    // 120 lines of 300 to 1,000 bytes in one turn: one group of about 77 kB.
    const lines = Array.from({ length: 120 }, (_, n) => JSON.stringify({ n, pad: 'x'.repeat(300 + ((n * 37) % 700)) }));
    await Promise.all(lines.map((l) => buffer.append(l)));
    await buffer.seal();
    const texts = await sealedTexts(root, sealed);
    const longest = Math.max(...lines.map((l) => l.length + 1));
    for (const text of texts) {
      expect(text.length).toBeLessThan(maxBytes + longest);
      // Only the line that reached the hint may pass it.
      expect(text.length - (text.slice(0, -1).length - text.slice(0, -1).lastIndexOf('\n'))).toBeLessThan(maxBytes);
    }
    expect(texts.length).toBeGreaterThanOrEqual(Math.ceil(lines.join('\n').length / (maxBytes + longest)));
    // Every line once, in order.
    expect(texts.join('').trim().split('\n').map((l) => JSON.parse(l).n)).toEqual(lines.map((_, n) => n));
  });

  it('syncs the directory of a new buffer file before its first line is acknowledged, and the raw partition after a seal', async () => {
    const synced: string[] = [];
    const { root, buffer, sealed } = await setup(LONG_LIVED, undefined, async (dir) => {
      synced.push(dir);
    });
    await buffer.append('{"n":1}');
    // The directories it created (each in its parent), and the file's own.
    expect([...synced].sort()).toEqual([root, join(root, 'buffers'), join(root, 'buffers', 'air_quality')]);
    await buffer.seal();
    const partition = join(root, sealed[0]!, '..');
    expect(synced.slice(3).sort()).toEqual([root, join(root, 'raw'), join(root, 'raw', 'air_quality'), partition]);
    // The rename into the partition is synced last, before the seal is reported.
    expect(synced.at(-1)).toBe(partition);
  });

  it('refuses the lines of a buffer file whose directory cannot be synced, and leaves no file behind', async () => {
    const { root, buffer } = await setup(LONG_LIVED, undefined, async (dir) => {
      if (dir.endsWith('air_quality')) throw errno('EIO', 'fsync');
    });
    await expect(buffer.append('{"n":1}')).rejects.toThrow(BufferWriteError);
    expect(await leftoverBuffers(join(root, 'buffers'))).toEqual([]);
  });

  it('seals after the age hint without further appends', async () => {
    const { buffer, sealed } = await setup({ maxBytes: 1 << 20, maxAgeMs: 50 });
    await buffer.append('{"a":1}');
    await until(() => sealed.length > 0);
    expect(sealed).toHaveLength(1);
  });

  it('seals nothing when empty', async () => {
    const { buffer, sealed } = await setup(LONG_LIVED);
    await buffer.seal();
    expect(sealed).toEqual([]);
  });

  it('keeps buffer files and the raw directories they are sealed into owner-only', async () => {
    const { root, buffer, sealed } = await setup(LONG_LIVED);
    await buffer.append('{"plate":"1-ABC-123"}');
    const [file] = await leftoverBuffers(join(root, 'buffers'));
    const mode = async (path: string) => (await stat(path)).mode & 0o777;
    expect(await mode(file!)).toBe(0o600);
    expect(await mode(join(root, 'buffers', 'air_quality'))).toBe(0o700);
    await buffer.seal();
    const [key] = sealed;
    expect(await mode(join(root, key!))).toBe(0o600);
    expect(await mode(join(root, 'raw', 'air_quality'))).toBe(0o700);
    expect(await mode(join(root, key!, '..'))).toBe(0o700);
  });
});

describe('the raw buffer when writes fail', () => {
  it('finishes short writes: every line is whole on disk when append resolves', async () => {
    const trickle: OpenBufferFile = async (path) => {
      const real = await openBufferFile(path);
      return {
        write: (data, offset, length) => real.write(data, offset, Math.min(length, 5)),
        datasync: () => real.datasync(),
        truncate: (length) => real.truncate(length),
        close: () => real.close(),
      };
    };
    const { root, buffer, sealed } = await setup(LONG_LIVED, trickle);
    await Promise.all(Array.from({ length: 50 }, (_, i) => buffer.append(`{"n":${i}}`)));
    await buffer.append('{"n":50}');
    await buffer.seal();
    const [text] = await sealedTexts(root, sealed);
    expect(text).toBe(Array.from({ length: 51 }, (_, i) => `{"n":${i}}\n`).join(''));
  });

  it('refuses a group that does not fit, cuts off its part on disk, logs once, and takes lines again when space returns', async () => {
    // One free block of 16 bytes.
    const disk = new SmallDisk(1, 16);
    const { root, buffer, sealed, logged, health } = await setup(LONG_LIVED, disk.open);
    await buffer.append('{"n":1}'); // 8 bytes, 8 left in the block
    // 16 bytes for 8: 8 are written, the rest fails.
    const refused = await Promise.allSettled([buffer.append('{"n":2}'), buffer.append('{"n":3}')]);
    expect(refused.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const error = (refused[0] as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(BufferWriteError);
    expect(error.code).toBe('ENOSPC');
    expect(disk.shortWrites).toBe(1);
    expect(disk.refusals).toBe(1);
    // More refusals (9-byte lines, 8 bytes left) while the disk stays full: still one log line.
    for (let i = 10; i < 16; i += 1) await expect(buffer.append(`{"n":${i}}`)).rejects.toThrow(/^not acknowledged: writing .* failed: ENOSPC/);
    expect(disk.refusals).toBe(7);
    const [file] = await leftoverBuffers(join(root, 'buffers'));
    expect(await readFile(file!, 'utf8')).toBe('{"n":1}\n');
    expect(logged).toEqual([expect.stringMatching(/^data directory full: .*air_quality-.*\.jsonl: ENOSPC: .*; messages are not acknowledged until space returns$/)]);

    disk.freeBlocks = Infinity;
    await buffer.append('{"n":20}');
    health.settle();
    expect(logged).toHaveLength(2);
    expect(logged[1]).toBe('data directory writable again: acknowledging messages (8 refused meanwhile; their senders resend them)');
    await buffer.seal();
    // No torn line, nothing merged: the refused lines are gone, the accepted ones whole.
    expect(await sealedTexts(root, sealed)).toEqual(['{"n":1}\n{"n":20}\n']);
  });

  it('calls the disk writable again only once more than it refused has gone through since the last failure, or after a while', async () => {
    const logged: string[] = [];
    let now = 0;
    const health = new BufferHealthLog((line) => logged.push(line), () => now);
    const big = 4 * WRITE_RECOVERY.bytes;
    health.writeFailed('/d/a.jsonl', errno('ENOSPC', 'write'), 3, big);
    // Smaller groups fit in the space the refused one gave back: no recovery yet.
    health.writeSucceeded(big - 1);
    health.writeFailed('/d/a.jsonl', errno('ENOSPC', 'write'), 2, 100);
    health.writeSucceeded(big - 1);
    expect(logged).toHaveLength(1);
    health.writeSucceeded(1);
    expect(logged).toEqual([
      'data directory full: /d/a.jsonl: ENOSPC: injected, write; messages are not acknowledged until space returns',
      'data directory writable again: acknowledging messages (5 refused meanwhile; their senders resend them)',
    ]);
    // A small refused group still needs the minimum through.
    health.writeFailed('/d/b.jsonl', errno('EFBIG', 'write'), 1, 100);
    health.writeSucceeded(WRITE_RECOVERY.bytes - 1);
    expect(logged).toHaveLength(3);
    health.writeSucceeded(1);
    expect(logged).toHaveLength(4);
    // Few messages: one small write long enough after the last failure.
    health.writeFailed('/d/c.jsonl', errno('EIO', 'write'), 1, 100);
    now += WRITE_RECOVERY.afterMs - 1;
    health.writeSucceeded(10);
    expect(logged).toHaveLength(5);
    now += 1;
    health.writeSucceeded(10);
    expect(logged.slice(4)).toEqual([
      'cannot write to the data directory: /d/c.jsonl: EIO: injected, write; messages are not acknowledged until writes succeed again',
      'data directory writable again: acknowledging messages (1 refused meanwhile; their senders resend them)',
    ]);
    health.settle();
    expect(logged).toHaveLength(6);
  });

  it('does not acknowledge lines whose fdatasync failed, and cuts them off', async () => {
    let failSync = false;
    const flaky: OpenBufferFile = async (path) => {
      const real = await openBufferFile(path);
      return {
        write: (data, offset, length) => real.write(data, offset, length),
        datasync: () => (failSync ? Promise.reject(errno('EIO', 'fdatasync')) : real.datasync()),
        truncate: (length) => real.truncate(length),
        close: () => real.close(),
      };
    };
    const { root, buffer, sealed, logged } = await setup(LONG_LIVED, flaky);
    await buffer.append('{"n":1}');
    failSync = true;
    await expect(buffer.append('{"n":2}')).rejects.toMatchObject({ name: 'BufferWriteError', code: 'EIO' });
    failSync = false;
    await buffer.append('{"n":3}');
    await buffer.seal();
    expect(await sealedTexts(root, sealed)).toEqual(['{"n":1}\n{"n":3}\n']);
    expect(logged[0]).toMatch(/^cannot write to the data directory: .*: EIO: injected, fdatasync; messages are not acknowledged until writes succeed again$/);
  });

  it('retires a file it cannot cut back: the next lines go to a new file, and the torn line is cut at its seal', async () => {
    let fail = false;
    const stubborn: OpenBufferFile = async (path) => {
      const real = await openBufferFile(path);
      return {
        write: async (data, offset, length) => {
          if (!fail) return real.write(data, offset, length);
          fail = false;
          await real.write(data, offset, 3);
          throw errno('EIO', 'write');
        },
        datasync: () => real.datasync(),
        truncate: () => Promise.reject(errno('EIO', 'ftruncate')),
        close: () => real.close(),
      };
    };
    const { root, buffer, sealed } = await setup(LONG_LIVED, stubborn);
    await buffer.append('{"n":1}');
    fail = true;
    await expect(buffer.append('{"n":2}')).rejects.toThrow(BufferWriteError);
    await buffer.append('{"n":3}');
    await buffer.seal();
    expect((await sealedTexts(root, sealed)).sort()).toEqual(['{"n":1}\n', '{"n":3}\n']);
  });

  it('removes a buffer whose only lines were refused instead of sealing an empty object', async () => {
    const disk = new SmallDisk(0);
    const { root, buffer, sealed } = await setup(LONG_LIVED, disk.open);
    await expect(buffer.append('{"n":1}')).rejects.toThrow(/ENOSPC/);
    await buffer.seal();
    expect(sealed).toEqual([]);
    expect(await leftoverBuffers(join(root, 'buffers'))).toEqual([]);
  });
});

describe('the raw buffer when a seal fails', () => {
  /** Makes raw/air_quality a file, so no partition directory can be created under it (root included). */
  async function blockRaw(root: string): Promise<string> {
    const blocker = join(root, 'raw', 'air_quality');
    await mkdir(join(root, 'raw'), { recursive: true });
    await writeFile(blocker, '');
    return blocker;
  }

  it('reports it once, keeps every file in place, and seals them all once it can', async () => {
    const { root, buffer, sealed, logged } = await setup(LONG_LIVED);
    const blocker = await blockRaw(root);
    await buffer.append('{"n":1}');
    await expect(buffer.seal()).rejects.toThrow(SealError);
    await buffer.append('{"n":2}');
    const error = await buffer.seal().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SealError);
    expect((error as SealError).paths).toHaveLength(2);
    expect(buffer.unsealed).toEqual((error as SealError).paths);
    expect(await leftoverBuffers(join(root, 'buffers'))).toEqual([...buffer.unsealed].sort());
    expect(logged).toEqual([expect.stringMatching(/^cannot seal .*air_quality-.*\.jsonl into the raw zone: .*; buffers stay in .*buffers, are retried, and are recovered at the next start$/)]);

    await rm(blocker);
    await buffer.seal();
    expect(buffer.unsealed).toEqual([]);
    expect(await sealedTexts(root, sealed)).toEqual(['{"n":1}\n', '{"n":2}\n']);
    expect(logged[1]).toBe('sealing into the raw zone works again');
  });

  it('retries on its own: the age timer seals what failed before', async () => {
    const { root, buffer, sealed, logged } = await setup({ maxBytes: 1 << 20, maxAgeMs: 20 });
    const blocker = await blockRaw(root);
    await buffer.append('{"n":1}');
    await until(() => logged.length > 0);
    expect(sealed).toEqual([]);
    await rm(blocker);
    await until(() => sealed.length > 0);
    expect(await sealedTexts(root, sealed)).toEqual(['{"n":1}\n']);
    expect(buffer.unsealed).toEqual([]);
  });

  it('takes over a leftover buffer that could not be sealed at start', async () => {
    const { root, buffer, sealed } = await setup(LONG_LIVED);
    const dir = join(root, 'buffers', 'air_quality');
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'air_quality-20261129T100000000Z-0a0b0c0d.jsonl');
    await writeFile(path, '{"n":1}\n{"n":');
    buffer.adopt(path);
    await buffer.seal();
    expect(sealed).toEqual([sealedKeyOf('air_quality-20261129T100000000Z-0a0b0c0d.jsonl').key]);
    expect(await sealedTexts(root, sealed)).toEqual(['{"n":1}\n']);
  });
});

describe('recovering a buffer after a crash', () => {
  it('cuts a torn last line (never acknowledged) and keeps every whole line', async () => {
    const root = await tempDir();
    const dir = join(root, 'buffers', 'noise');
    await mkdir(dir, { recursive: true });
    const name = 'noise-20261129T100000000Z-0a0b0c0d.jsonl';
    await writeFile(join(dir, name), '{"a":1}\n{"a":2}\n{"a":');
    const [path] = await leftoverBuffers(join(root, 'buffers'));
    const key = await sealBufferFile(path!, root);
    expect(key).toBe(sealedKeyOf(name).key);
    expect(key).toBe('raw/noise/dt=2026-11-29/noise-20261129T100000000Z-0a0b0c0d.jsonl');
    expect(await readFile(join(root, key!), 'utf8')).toBe('{"a":1}\n{"a":2}\n');
  });

  it('removes a buffer holding no whole line', async () => {
    const root = await tempDir();
    const dir = join(root, 'buffers', 'noise');
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'noise-20261129T100000000Z-0a0b0c0d.jsonl');
    await (await open(path, 'w')).close();
    expect(await sealBufferFile(path, root)).toBeUndefined();
    expect(await leftoverBuffers(join(root, 'buffers'))).toEqual([]);
  });
});
