/**
 * Sensors' places in a local data dir: one JSON object per sensor under
 * curated/_places/, which the query engine reads as the `sensors` view.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parsePlace, placeKey, placeText, PLACES_PREFIX, type SensorPlace } from '../functions/core/places.ts';
import type { DataDirLayout } from './data-dir.ts';

/** Writes a sensor's place, whole or not at all (a reader never sees half an object). */
export async function writeLocalPlace(layout: DataDirLayout, place: SensorPlace): Promise<string> {
  const file = join(layout.root, placeKey(place.dataset, place.sensor_id));
  await mkdir(dirname(file), { recursive: true });
  const temporary = join(dirname(file), `.${place.sensor_id}.${process.pid}.tmp`);
  await writeFile(temporary, placeText(place));
  await rename(temporary, file);
  return file;
}

/** Writes many places, skipping those already stored with the same coordinates, name and address. */
export async function writeLocalPlaces(layout: DataDirLayout, places: readonly SensorPlace[]): Promise<number> {
  const known = new Map((await readLocalPlaces(layout)).map((p) => [`${p.dataset}/${p.sensor_id}`, p]));
  let written = 0;
  for (const place of places) {
    const old = known.get(`${place.dataset}/${place.sensor_id}`);
    if (old && old.latitude === place.latitude && old.longitude === place.longitude && old.name === place.name && old.address === place.address) continue;
    await writeLocalPlace(layout, place);
    written += 1;
  }
  return written;
}

/** Removes a sensor's place; false when it had none. */
export async function removeLocalPlace(layout: DataDirLayout, datasetId: string, sensorId: string): Promise<boolean> {
  const file = join(layout.root, placeKey(datasetId, sensorId));
  try {
    await rm(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Every place stored, of the given datasets or all; an object that is not a place is skipped. */
export async function readLocalPlaces(layout: DataDirLayout, datasetIds?: readonly string[]): Promise<SensorPlace[]> {
  const root = join(layout.root, PLACES_PREFIX);
  const places: SensorPlace[] = [];
  const datasets = datasetIds ?? (await readdir(root).catch(() => []));
  for (const dataset of datasets) {
    for (const name of await readdir(join(root, dataset)).catch(() => [])) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        const place = parsePlace(`${PLACES_PREFIX}${dataset}/${name}`, await readFile(join(root, dataset, name), 'utf8'));
        if (place.dataset === dataset) places.push(place);
      } catch {
        // A stray or half-edited file is no place; the others still are.
      }
    }
  }
  return places.sort((a, b) => a.dataset.localeCompare(b.dataset) || a.sensor_id.localeCompare(b.sensor_id));
}
