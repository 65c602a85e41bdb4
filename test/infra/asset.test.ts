import { existsSync, openSync, readSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { App } from 'aws-cdk-lib';
import { DatastroomStack } from '../../infra/stacks/datastroom-stack.ts';
import { NATIVE_PACKAGES } from '../../infra/constructs/transform.ts';
import { tempDir } from '../helpers/fixtures.ts';

/** ELF header: class (64-bit) and machine (x86-64 = 0x3e). */
function elfMachine(file: string): { elf: boolean; bits64: boolean; machine: number } {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(20);
  readSync(fd, head, 0, 20, 0);
  closeSync(fd);
  return { elf: head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])), bits64: head[4] === 2, machine: head.readUInt16LE(18) };
}

describe('the assets of the transform, compaction and publishing functions', () => {
  it('are bundled without Docker and ship DuckDB’s native binary for x86_64', async () => {
    const outdir = await tempDir('datastroom-asset-');
    const app = new App({ outdir });
    new DatastroomStack(app, 'Asset');
    app.synth();
    const assets = readdirSync(outdir).filter((d) => d.startsWith('asset.'));
    // The transform, compaction and publishing, with DuckDB; the HTTP push function, without (the pull function exists only with pull sources).
    expect(assets).toHaveLength(4);
    const withDuckdb = assets.filter((name) => existsSync(join(outdir, name, 'node_modules')));
    expect(withDuckdb).toHaveLength(3);
    for (const name of withDuckdb) checkAsset(join(outdir, name));
    for (const name of assets.filter((a) => !withDuckdb.includes(a))) {
      expect(readdirSync(join(outdir, name))).toEqual(['index.js']);
      expect(readFileSync(join(outdir, name, 'index.js'), 'utf8')).not.toContain('sourceMappingURL');
    }
    // The publishing function ships the dashboard's page, which it copies into the portal.
    const withPage = assets.filter((name) => existsSync(join(outdir, name, 'web', 'index.html')));
    expect(withPage).toHaveLength(1);
    expect(readdirSync(join(outdir, withPage[0]!, 'web')).filter((f) => /^app\.(js|css)$/.test(f)).sort()).toEqual(['app.css', 'app.js']);
  }, 120_000);
});

/** One function's asset: a minified bundle without source map, and DuckDB's native packages for x86_64. */
function checkAsset(asset: string): void {
  expect(existsSync(join(asset, 'index.js'))).toBe(true);
  // Nothing would read a source map: the runtime starts without --enable-source-maps.
  expect(readdirSync(asset).filter((f) => f.endsWith('.map'))).toEqual([]);
  expect(readFileSync(join(asset, 'index.js'), 'utf8')).not.toContain('sourceMappingURL');
  for (const pkg of NATIVE_PACKAGES) expect(existsSync(join(asset, 'node_modules', pkg, 'package.json')), pkg).toBe(true);
  const binary = join(asset, 'node_modules/@duckdb/node-bindings-linux-x64/duckdb.node');
  expect(elfMachine(binary)).toEqual({ elf: true, bits64: true, machine: 0x3e });
}
