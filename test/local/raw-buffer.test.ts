import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { leftoverBuffers, RawBuffer, sealBufferFile, sealedKeyOf } from '../../local/raw-buffer.ts';
import { tempDir } from '../helpers/fixtures.ts';

async function setup(hints: { maxBytes: number; maxAgeMs: number }) {
  const root = await tempDir();
  const sealed: string[] = [];
  const buffer = new RawBuffer('air_quality', join(root, 'buffers', 'air_quality'), root, hints, (_d, key) => sealed.push(key));
  return { root, sealed, buffer };
}

describe('the raw buffer', () => {
  it('has a line on disk when append resolves, before any seal', async () => {
    const { root, buffer, sealed } = await setup({ maxBytes: 1 << 20, maxAgeMs: 60_000 });
    await buffer.append('{"a":1}');
    const [file] = await leftoverBuffers(join(root, 'buffers'));
    expect(await readFile(file!, 'utf8')).toBe('{"a":1}\n');
    expect(sealed).toEqual([]);
  });

  it('writes lines appended in the same turn with one sync and keeps their order', async () => {
    const { root, buffer } = await setup({ maxBytes: 1 << 20, maxAgeMs: 60_000 });
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

  it('seals after the age hint without further appends', async () => {
    const { buffer, sealed } = await setup({ maxBytes: 1 << 20, maxAgeMs: 50 });
    await buffer.append('{"a":1}');
    await new Promise((r) => setTimeout(r, 300));
    expect(sealed).toHaveLength(1);
  });

  it('seals nothing when empty', async () => {
    const { buffer, sealed } = await setup({ maxBytes: 1 << 20, maxAgeMs: 60_000 });
    await buffer.seal();
    expect(sealed).toEqual([]);
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
    expect(await readFile(join(root, key), 'utf8')).toBe('{"a":1}\n{"a":2}\n');
  });
});
