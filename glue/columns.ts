import type { FieldKind } from '../datasets/index.ts';

/** The Glue (Hive) type of each column kind: what Athena and BI tools see. */
export const GLUE_TYPES: Readonly<Record<FieldKind, string>> = {
  timestamp: 'timestamp',
  double: 'double',
  bigint: 'bigint',
  varchar: 'string',
  boolean: 'boolean',
};
