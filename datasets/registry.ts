import { airQuality } from './air-quality.ts';
import { anprPassage } from './anpr-passage.ts';
import { DatasetDefinitionError, type Dataset } from './define.ts';
import { noise } from './noise.ts';
import { parkingOccupancy } from './parking-occupancy.ts';
import { trafficCount } from './traffic-count.ts';
import { wasteFill } from './waste-fill.ts';
import { waterLevel } from './water-level.ts';

/** Checks a list of datasets as a whole: ids are unique. Returns it frozen. */
export function checkRegistry(datasets: readonly Dataset[]): readonly Dataset[] {
  const seen = new Set<string>();
  for (const dataset of datasets) {
    if (seen.has(dataset.id)) throw new DatasetDefinitionError(dataset.id, 'declared twice: dataset ids must be unique');
    seen.add(dataset.id);
  }
  return Object.freeze([...datasets]);
}

/** Every dataset the platform serves. Add a dataset by adding its file and one line here. */
export const registry: readonly Dataset[] = checkRegistry([
  airQuality,
  noise,
  trafficCount,
  wasteFill,
  parkingOccupancy,
  waterLevel,
  anprPassage,
]);

/** A dataset id the registry does not know. */
export class UnknownDatasetError extends Error {
  constructor(readonly datasetId: string) {
    super(`unknown dataset "${datasetId}": known datasets are ${registry.map((d) => d.id).join(', ')}`);
    this.name = 'UnknownDatasetError';
  }
}

const byId = new Map(registry.map((d) => [d.id, d]));

/** The dataset with this id, or undefined. */
export function findDataset(id: string): Dataset | undefined {
  return byId.get(id);
}

/** The dataset with this id; throws {@link UnknownDatasetError} otherwise. */
export function getDataset(id: string): Dataset {
  const dataset = byId.get(id);
  if (!dataset) throw new UnknownDatasetError(id);
  return dataset;
}
