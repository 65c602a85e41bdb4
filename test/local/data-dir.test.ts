/**
 * The parts of a data dir that hold clear-text plates, the key or device
 * secrets are owner-only, whether the runtime made them or found them
 * readable by all; curated and quarantine keep the umask's mode.
 */
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataDirLayout, ensureDataDir, loadPseudonymKey, OWNER_ONLY_DIR_MODE, OWNER_ONLY_FILE_MODE, ownerOnlyDirs } from '../../local/data-dir.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import { tempDir } from '../helpers/fixtures.ts';

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** The mode a directory gets from the umask alone. */
async function umaskDirMode(): Promise<number> {
  const probe = join(await tempDir(), 'probe');
  await mkdir(probe);
  return modeOf(probe);
}

describe('ensureDataDir', () => {
  it('creates raw, state, buffers and scratch owner-only; the root keeps the umask’s mode', async () => {
    const layout = dataDirLayout(join(await tempDir(), 'fresh'));
    await ensureDataDir(layout);
    for (const dir of [layout.zones.raw, layout.state, layout.buffers, layout.scratch]) expect(await modeOf(dir), dir).toBe(OWNER_ONLY_DIR_MODE);
    expect(await modeOf(layout.root)).toBe(await umaskDirMode());
    expect((await readdir(layout.root)).sort()).toEqual(['raw', 'state']);
  });

  it('corrects a data dir whose parts, and key, are readable by all', async () => {
    const layout = dataDirLayout(await tempDir());
    for (const dir of ownerOnlyDirs(layout)) {
      await mkdir(dir, { recursive: true });
      await chmod(dir, 0o777);
    }
    await writeFile(layout.keyFile, `${'ab'.repeat(32)}\n`);
    await chmod(layout.keyFile, 0o644);
    for (const zone of [layout.zones.curated, layout.zones.quarantine]) {
      await mkdir(zone);
      await chmod(zone, 0o755);
    }

    await ensureDataDir(layout);

    expect(ownerOnlyDirs(layout)).toEqual([layout.zones.raw, layout.state, layout.buffers, layout.scratch, layout.devices]);
    for (const dir of ownerOnlyDirs(layout)) expect(await modeOf(dir), dir).toBe(OWNER_ONLY_DIR_MODE);
    expect(await modeOf(layout.keyFile)).toBe(OWNER_ONLY_FILE_MODE);
    // BI tools of other local users may read the curated and quarantine zones.
    expect(await modeOf(layout.zones.curated)).toBe(0o755);
    expect(await modeOf(layout.zones.quarantine)).toBe(0o755);
    // The key is still the same key.
    expect((await loadPseudonymKey(layout, {})).toString('hex')).toBe('ab'.repeat(32));
  });

  it('generates the key owner-only', async () => {
    const layout = dataDirLayout(await tempDir());
    await ensureDataDir(layout);
    await loadPseudonymKey(layout, {});
    expect(await modeOf(layout.keyFile)).toBe(OWNER_ONLY_FILE_MODE);
  });
});

describe('the local platform', () => {
  it('starts on a world-readable data dir and leaves its private parts owner-only', async () => {
    const layout = dataDirLayout(await tempDir());
    for (const dir of [layout.zones.raw, layout.state, layout.devices]) {
      await mkdir(dir, { recursive: true });
      await chmod(dir, 0o755);
    }
    const platform = await startLocalPlatform({ dataDir: layout.root, port: 0, simulate: false, log: () => {} });
    await platform.stop();
    for (const dir of ownerOnlyDirs(layout)) expect(await modeOf(dir), dir).toBe(OWNER_ONLY_DIR_MODE);
    expect(await modeOf(layout.keyFile)).toBe(OWNER_ONLY_FILE_MODE);
  });
});
