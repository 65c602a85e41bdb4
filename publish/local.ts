/** The portal's source and sink on one machine: the data dir's curated zone in, a folder out. */
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { zonePrefix } from '../functions/core/keys.ts';
import type { DataDirLayout } from '../local/data-dir.ts';
import { readLocalPlaces } from '../local/places.ts';
import { filesSignature, type PortalSink, type PortalSource, type SourceDay } from './portal.ts';

const PARTITION = /^dt=(\d{4}-\d{2}-\d{2})$/;

/** Curated files of a local data dir, read where they are (nothing is copied). */
export function localPortalSource(layout: DataDirLayout): PortalSource {
  const dir = (datasetId: string) => join(layout.root, zonePrefix('curated', datasetId));
  const parquetIn = async (partition: string) => (await readdir(partition).catch(() => [])).filter((f) => f.endsWith('.parquet') && !f.startsWith('.'));
  return {
    async days(datasetId) {
      const days: SourceDay[] = [];
      for (const entry of await readdir(dir(datasetId)).catch(() => [])) {
        const day = PARTITION.exec(entry)?.[1];
        if (!day) continue;
        const partition = join(dir(datasetId), entry);
        const files: { name: string; bytes: number; version: string }[] = [];
        for (const name of await parquetIn(partition)) {
          // A file compaction removed between the listing and here is simply not part of the day.
          const info = await stat(join(partition, name)).catch(() => undefined);
          if (info) files.push({ name, bytes: info.size, version: String(info.mtimeMs) });
        }
        if (files.length > 0) days.push({ day, signature: filesSignature(files) });
      }
      return days;
    },
    async fetch(datasetId, day) {
      const partition = join(dir(datasetId), `dt=${day}`);
      return { files: (await parquetIn(partition)).map((f) => join(partition, f)), release: async () => undefined };
    },
    places: (datasetIds) => readLocalPlaces(layout, datasetIds),
  };
}

/** A portal folder: each file written whole (a reader never sees half of one). */
export function folderPortalSink(root: string): PortalSink {
  const base = resolve(root);
  const target = (path: string) => {
    const file = resolve(base, path);
    if (!file.startsWith(base + sep)) throw new Error(`portal path ${path} is outside ${root}`);
    return file;
  };
  const place = async (path: string, write: (temporary: string) => Promise<void>) => {
    const file = target(path);
    await mkdir(dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.partial`;
    try {
      await write(temporary);
      await rename(temporary, file);
    } finally {
      await rm(temporary, { force: true });
    }
  };
  return {
    putFile: (path, file) => place(path, (temporary) => copyFile(file, temporary)),
    putText: (path, text) => place(path, (temporary) => writeFile(temporary, text)),
    getText: async (path) => readFile(target(path), 'utf8').catch(() => undefined),
    remove: async (paths) => {
      for (const path of paths) await rm(target(path), { force: true });
    },
    removePrefix: (prefix) => rm(target(prefix), { recursive: true, force: true }),
  };
}
