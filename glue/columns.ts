import type { FieldKind } from '../datasets/index.ts';

/** Kinds of column in the catalog: the registry's field kinds, and dates (the dt partitions). */
export type CatalogKind = FieldKind | 'date';

/** The Glue (Hive) type of each column kind: what Athena and BI tools see. */
export const GLUE_TYPES: Readonly<Record<CatalogKind, string>> = {
  timestamp: 'timestamp',
  double: 'double',
  bigint: 'bigint',
  varchar: 'string',
  boolean: 'boolean',
  date: 'date',
};
