import { copyFile, mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { ObjectStore } from '../core/store.ts';

/** The zones as directories under a data directory, keys as relative paths. */
export class LocalObjectStore implements ObjectStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The path of a key; refuses keys that would leave the root. */
  pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new Error(`object key escapes the data directory: "${key}"`);
    return path;
  }

  async fetch(key: string): Promise<string> {
    const path = this.pathOf(key);
    await stat(path);
    return path;
  }

  async put(key: string, file: string): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    // A rename is atomic, so a query never reads half a file; across file systems, copy beside it first.
    try {
      await rename(file, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      const staging = join(dirname(target), `.${Date.now()}.partial`);
      await copyFile(file, staging);
      await rename(staging, target);
    }
  }
}
