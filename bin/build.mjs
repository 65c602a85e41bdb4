#!/usr/bin/env node
/**
 * Compiles the datastroom command once, so a run does not compile the
 * TypeScript sources again (tsx took 2 to 5 s per start). `npm ci` runs it
 * (the `prepare` script), and bin/datastroom.mjs runs it again by itself
 * when a source changed since.
 *
 * esbuild bundles cli/main.ts with code splitting: main holds only the
 * command table and the usage, and each command is a chunk loaded when it
 * runs. Packages stay external (DuckDB's native module, the AWS SDK, aedes
 * are loaded from node_modules as they are). Each build goes to a directory
 * of its own under dist/, and dist/cli.json, replaced atomically, names the
 * current one with the source files it was built from and their sizes and
 * modification times, so concurrent runs never see half a build.
 *
 * The same build bundles the city dashboard's page (web/app/) for the
 * browser into <build>/web/: app.js with Leaflet and uPlot, app.css, the
 * images Leaflet's stylesheet names, and index.html. The dashboard server
 * and `datastroom publish` serve and copy that folder.
 */
import { copyFileSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where builds go. */
export const DIST = join(ROOT, 'dist');
/** The manifest of the current build. */
export const MANIFEST = join(DIST, 'cli.json');

/** Builds the command; returns the path of its entry module. */
export async function build() {
  const { build: esbuild } = await import('esbuild');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  mkdirSync(DIST, { recursive: true });
  const name = `cli-${Date.now().toString(36)}-${process.pid}`;
  const outdir = join(DIST, name);
  const result = await esbuild({
    absWorkingDir: ROOT,
    entryPoints: { main: 'cli/main.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    define: { DATASTROOM_VERSION: JSON.stringify(pkg.version) },
    metafile: true,
    logLevel: 'warning',
  });
  const web = await buildWeb(join(outdir, 'web'));
  const inputs = { 'web/app/index.html': [statSync(join(ROOT, 'web/app/index.html')).mtimeMs, statSync(join(ROOT, 'web/app/index.html')).size] };
  for (const file of [...Object.keys(result.metafile.inputs), ...Object.keys(web.metafile.inputs)]) {
    if (file.startsWith('node_modules/')) continue;
    const info = statSync(join(ROOT, file));
    inputs[file] = [info.mtimeMs, info.size];
  }
  const temporary = `${MANIFEST}.${process.pid}`;
  writeFileSync(temporary, `${JSON.stringify({ dir: name, version: pkg.version, inputs })}\n`);
  renameSync(temporary, MANIFEST);
  // Builds of an hour ago can go; a newer one may still serve a command that started before this build.
  for (const entry of readdirSync(DIST)) {
    if (!entry.startsWith('cli-') || entry === name) continue;
    const path = join(DIST, entry);
    if (Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { recursive: true, force: true });
  }
  return join(outdir, 'main.mjs');
}

/**
 * Bundles the dashboard's page alone into a folder: app.js, app.css, the
 * images and index.html. The publishing function's bundling calls it (node
 * bin/build.mjs --web DIR) to ship the page beside its code.
 */
export async function buildWeb(dir) {
  const { build: esbuild } = await import('esbuild');
  const result = await esbuild({
    absWorkingDir: ROOT,
    entryPoints: { app: 'web/app/main.ts' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    outdir: dir,
    assetNames: '[name]-[hash]',
    loader: { '.png': 'file', '.svg': 'file' },
    metafile: true,
    logLevel: 'warning',
  });
  copyFileSync(join(ROOT, 'web/app/index.html'), join(dir, 'index.html'));
  return result;
}

/** The dashboard page's folder of the current build, or undefined when there is none. */
export function currentWebAssets() {
  const entry = currentBuild();
  return entry === undefined ? undefined : join(dirname(entry), 'web');
}

/**
 * The entry module of the current build, or undefined when there is none or
 * a source it was built from has changed (or is gone) since.
 */
export function currentBuild() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof manifest?.dir !== 'string' || typeof manifest.inputs !== 'object') return undefined;
  for (const [file, [mtimeMs, size]] of Object.entries(manifest.inputs)) {
    try {
      const info = statSync(join(ROOT, file));
      if (info.mtimeMs !== mtimeMs || info.size !== size) return undefined;
    } catch {
      return undefined;
    }
  }
  return join(DIST, manifest.dir, 'main.mjs');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--web') {
    if (!process.argv[3]) throw new Error('--web needs the folder to bundle the dashboard page into');
    const dir = resolve(process.argv[3]);
    await buildWeb(dir);
    process.stdout.write(`built the dashboard page into ${dir}\n`);
  } else {
    const entry = await build();
    process.stdout.write(`built the datastroom command: ${relative(ROOT, entry)}\n`);
  }
}
