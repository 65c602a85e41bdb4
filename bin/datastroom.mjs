#!/usr/bin/env node
// The datastroom command. It runs the build that `npm ci` made (bin/build.mjs), rebuilding it first
// when a source changed since; without esbuild (an install without dev dependencies) it says so and
// runs the TypeScript sources through tsx, which works the same but starts several times slower.
import { currentBuild } from './build.mjs';

async function load() {
  const built = currentBuild();
  if (built) return import(built);
  try {
    const { build } = await import('./build.mjs');
    return await import(await build());
  } catch (error) {
    const reason = error?.code === 'ERR_MODULE_NOT_FOUND' ? 'esbuild is not installed (npm ci installs it)' : `the build failed: ${error?.message ?? error}`;
    process.stderr.write(`datastroom: no up-to-date build in dist/ and ${reason}; running from the sources through tsx, which starts slower\n`);
    const { register } = await import('tsx/esm/api');
    register();
    return import('../cli/main.ts');
  }
}

const { main } = await load();
process.exitCode = await main(process.argv.slice(2));
