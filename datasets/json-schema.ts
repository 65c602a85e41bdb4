import { z } from 'zod';
import type { Dataset } from './define.ts';

/** Where the generated schemas are published in the repository. */
export const SCHEMA_DIR = 'docs/schemas';

/**
 * The JSON Schema (draft 2020-12) of one reading of a dataset, for sensor
 * vendors: derived from the registry's zod schema, with units, the topic and
 * the governance facts a vendor should know. Extra fields are allowed (they
 * are dropped on arrival), so additionalProperties is left open.
 */
export function readingJsonSchema(dataset: Dataset, example?: Record<string, unknown>): Record<string, unknown> {
  const schema = z.toJSONSchema(dataset.reading, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema, properties, ...rest } = schema;
  // The simulator's range, the hourly view's aggregates and the dashboard's bands are the platform's business, not a vendor's.
  const vendorProperties = Object.fromEntries(
    Object.entries((properties ?? {}) as Record<string, Record<string, unknown>>).map(([name, prop]) => {
      const { typical: _typical, aggregate: _aggregate, thresholds: _thresholds, ...kept } = prop;
      return [name, kept];
    }),
  );
  return {
    $schema,
    $id: `${dataset.id}.schema.json`,
    title: `${dataset.title}: one reading`,
    description: `${dataset.description} Publish one reading, or a JSON array of readings, to datastroom/${dataset.id}/<sensorId>.`,
    ...rest,
    properties: vendorProperties,
    'x-datastroom': {
      dataset: dataset.id,
      topic: `datastroom/${dataset.id}/<sensorId>`,
      classification: dataset.governance.classification,
      personalData: dataset.governance.personalData,
      standard: dataset.governance.standard,
      updateFrequency: dataset.governance.updateFrequency,
      maxPayloadBytes: 131072,
    },
    ...(example ? { examples: [example] } : {}),
  };
}
