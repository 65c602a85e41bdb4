import { ENVELOPE_COLUMNS, NATIVE_FORMAT, PARTITION_COLUMN, type Dataset, type FieldKind } from '../../datasets/index.ts';

/** One column of a curated table. */
export interface Column {
  readonly name: string;
  readonly kind: FieldKind;
  /** Shown in the catalog: unit and description, or what the envelope column holds. */
  readonly comment: string;
}

const ENVELOPE: Readonly<Record<(typeof ENVELOPE_COLUMNS)[number], Column>> = {
  sensor_id: { name: 'sensor_id', kind: 'varchar', comment: 'Sensor (IoT thing name) from the topic' },
  received_at: { name: 'received_at', kind: 'timestamp', comment: 'Arrival time at the platform (UTC)' },
  message_id: { name: 'message_id', kind: 'varchar', comment: 'De-duplication key: digest of topic and payload' },
  format: { name: 'format', kind: 'varchar', comment: `Input format the reading came in (${NATIVE_FORMAT} for the platform's own JSON); NULL in files written before it was recorded` },
};

/**
 * The columns of a dataset's curated files, in order: the envelope, then the
 * reading's fields. The partition column (`dt`) is not stored in the files.
 */
export function curatedColumns(dataset: Dataset): readonly Column[] {
  return [
    ...ENVELOPE_COLUMNS.map((name) => ENVELOPE[name]),
    ...dataset.fields.map((f) => ({
      name: f.name,
      kind: f.kind,
      comment: [
        f.description,
        f.unit ? `(${f.unit})` : undefined,
        f.name === 'ts' ? 'Event time (UTC)' : undefined,
        f.personal ? 'Pseudonymised: HMAC-SHA256 of the canonical value' : undefined,
      ]
        .filter(Boolean)
        .join(' '),
    })),
  ];
}

/** The partition column: the UTC date of the event time, as YYYY-MM-DD text. */
export const PARTITION: Column = { name: PARTITION_COLUMN, kind: 'varchar', comment: 'Event date (UTC), YYYY-MM-DD' };

/** DuckDB's name for each column kind. */
export const DUCKDB_TYPES: Readonly<Record<FieldKind, string>> = {
  timestamp: 'TIMESTAMP',
  double: 'DOUBLE',
  bigint: 'BIGINT',
  varchar: 'VARCHAR',
  boolean: 'BOOLEAN',
};

/** Quotes an SQL identifier (valid in DuckDB and Athena). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes an SQL string literal. */
export function quoteString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * read_parquet's `schema` for a dataset's curated files: every column by
 * name with the registry's type, NULL where a file lacks it. Files are read
 * as the registry says without opening each one first to learn its own
 * schema, so a file written before a field was added reads it as NULL, and
 * one written before an int became a number is cast.
 */
export function parquetSchemaSql(dataset: Dataset): string {
  return `map{${curatedColumns(dataset)
    .map((c) => `${quoteString(c.name)}: {name: ${quoteString(c.name)}, type: ${quoteString(DUCKDB_TYPES[c.kind])}, default_value: NULL}`)
    .join(', ')}}`;
}
