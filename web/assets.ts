/**
 * Where the dashboard's built page is: <build>/web/ of the build that
 * dist/cli.json names (bin/build.mjs writes both). Found from the repository
 * root, whether this runs from the sources or from a build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const Manifest = z.object({ dir: z.string().regex(/^[\w.-]+$/) });
const Package = z.object({ name: z.string() });

/** The repository root: the nearest folder up from here whose package.json is datastroom's. */
function repositoryRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      if (Package.parse(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))).name === 'datastroom') return dir;
    } catch {
      // no package.json here, or another one: keep going up
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The built page's folder, or undefined when nothing is built (an install without dev dependencies). */
export function findWebAssets(): string | undefined {
  const root = repositoryRoot();
  if (!root) return undefined;
  try {
    const { dir } = Manifest.parse(JSON.parse(readFileSync(join(root, 'dist', 'cli.json'), 'utf8')));
    const web = join(root, 'dist', dir, 'web');
    return existsSync(join(web, 'index.html')) ? web : undefined;
  } catch {
    return undefined;
  }
}
