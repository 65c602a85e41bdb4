/**
 * Glue catalog definitions derived from the registry: the curated table of
 * each dataset (Parquet, partition projection on dt, no crawler), its raw
 * table for debugging, and its views (Athena "Presto views"). Plain objects
 * in the shape of Glue's TableInput; the CDK catalog construct only wraps them.
 */
import { EVENT_TIME_FIELD, PARTITION_COLUMN, type Dataset, type FieldKind } from '../datasets/index.ts';
import { curatedColumns, PARTITION } from '../functions/core/columns.ts';
import { zonePrefix } from '../functions/core/keys.ts';
import { GLUE_TYPES } from './columns.ts';
import { allViews, type ViewDefinition } from './views.ts';

/** A Glue column. */
export interface GlueColumn {
  readonly name: string;
  readonly type: string;
  readonly comment?: string;
}

/** The parts of Glue's TableInput the platform sets. */
export interface GlueTableInput {
  readonly name: string;
  readonly description: string;
  readonly tableType: 'EXTERNAL_TABLE' | 'VIRTUAL_VIEW';
  readonly parameters: Readonly<Record<string, string>>;
  readonly partitionKeys: readonly GlueColumn[];
  readonly storageDescriptor: {
    readonly columns: readonly GlueColumn[];
    readonly location?: string;
    readonly inputFormat?: string;
    readonly outputFormat?: string;
    readonly serdeInfo?: { readonly serializationLibrary: string; readonly parameters?: Readonly<Record<string, string>> };
  };
  readonly viewOriginalText?: string;
  readonly viewExpandedText?: string;
}

/** Where a table's data lives: bucket names (CloudFormation tokens at synth time are fine). */
export interface TableLocations {
  readonly rawBucket: string;
  readonly curatedBucket: string;
}

/** First day partition projection offers; a query filtering on dt never lists S3. */
export const PROJECTION_START = '2020-01-01';

const PARQUET = {
  inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
};

const JSON_LINES = {
  inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
  serdeInfo: { serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe', parameters: { 'ignore.malformed.json': 'true' } },
};

/** Name of a dataset's raw table (the raw zone as Athena sees it, for debugging). */
export function rawTableName(dataset: Dataset): string {
  return `${dataset.id}_raw`;
}

/** The governance record as table parameters, so the catalog carries it next to the data. */
export function governanceParameters(dataset: Dataset): Record<string, string> {
  const g = dataset.governance;
  const r = dataset.retention;
  return {
    'datastroom.dataset': dataset.id,
    'datastroom.owner': g.owner,
    'datastroom.steward': g.steward,
    'datastroom.classification': g.classification,
    'datastroom.personal_data': g.personalData.length > 0 ? g.personalData.join(',') : 'none',
    'datastroom.legal_basis': g.legalBasis,
    'datastroom.licence': g.licence,
    'datastroom.standard': g.standard,
    'datastroom.update_frequency': g.updateFrequency,
    // Optional chaining: a dataset without retention still builds, so the governance check can name it.
    'datastroom.retention_days': `raw=${r?.rawDays},curated=${r?.curatedDays},quarantine=${r?.quarantineDays}`,
  };
}

function projection(locationPrefix: string): Record<string, string> {
  return {
    'projection.enabled': 'true',
    [`projection.${PARTITION_COLUMN}.type`]: 'date',
    [`projection.${PARTITION_COLUMN}.format`]: 'yyyy-MM-dd',
    [`projection.${PARTITION_COLUMN}.range`]: `${PROJECTION_START},NOW`,
    [`projection.${PARTITION_COLUMN}.interval`]: '1',
    [`projection.${PARTITION_COLUMN}.interval.unit`]: 'DAYS',
    'storage.location.template': `${locationPrefix}${PARTITION_COLUMN}=\${${PARTITION_COLUMN}}/`,
  };
}

const partitionKey: GlueColumn = { name: PARTITION.name, type: GLUE_TYPES[PARTITION.kind], comment: PARTITION.comment };

/** The curated table: Parquet written by the transform, typed from the registry. */
export function curatedTable(dataset: Dataset, at: TableLocations): GlueTableInput {
  const location = `s3://${at.curatedBucket}/${zonePrefix('curated', dataset.id)}`;
  return {
    name: dataset.id,
    description: `${dataset.title}: ${dataset.description}`,
    tableType: 'EXTERNAL_TABLE',
    parameters: { classification: 'parquet', EXTERNAL: 'TRUE', ...projection(location), ...governanceParameters(dataset) },
    partitionKeys: [partitionKey],
    storageDescriptor: {
      columns: curatedColumns(dataset).map((c) => ({ name: c.name, type: GLUE_TYPES[c.kind], comment: c.comment })),
      location,
      ...PARQUET,
    },
  };
}

/** The raw table: the delivery stream's gzip JSON lines, one arrival per row, payload still encoded. */
export function rawTable(dataset: Dataset, at: TableLocations): GlueTableInput {
  const location = `s3://${at.rawBucket}/${zonePrefix('raw', dataset.id)}`;
  const columns: GlueColumn[] = [
    { name: 'messageid', type: 'string', comment: 'De-duplication key' },
    { name: 'sensorid', type: 'string', comment: 'Sensor (IoT thing name) from the topic' },
    { name: 'receivedat', type: 'string', comment: 'Arrival time (ISO 8601 UTC)' },
    { name: 'payloadbase64', type: 'string', comment: 'The payload as it arrived, base64' },
  ];
  return {
    name: rawTableName(dataset),
    description: `${dataset.title}: raw arrivals by arrival date, for debugging (restricted: may hold personal data)`,
    tableType: 'EXTERNAL_TABLE',
    parameters: { classification: 'json', EXTERNAL: 'TRUE', ...projection(location), ...governanceParameters(dataset) },
    partitionKeys: [{ ...partitionKey, comment: 'Arrival date (UTC), YYYY-MM-DD' }],
    storageDescriptor: { columns, location, ...JSON_LINES },
  };
}

const PRESTO_TYPES: Readonly<Record<FieldKind, string>> = {
  timestamp: 'timestamp(3)',
  double: 'double',
  bigint: 'bigint',
  varchar: 'varchar',
  boolean: 'boolean',
};

/** The columns a view yields, typed from the registry (the SQL is the hourly aggregate). */
export function viewColumns(view: ViewDefinition, dataset: Dataset): { name: string; kind: FieldKind }[] {
  const columns: { name: string; kind: FieldKind }[] = [
    { name: PARTITION_COLUMN, kind: 'varchar' },
    { name: 'hour', kind: 'timestamp' },
    { name: 'sensor_id', kind: 'varchar' },
    { name: 'readings', kind: 'bigint' },
  ];
  for (const f of dataset.fields) {
    if (f.name === EVENT_TIME_FIELD) continue;
    for (const agg of f.aggregate) {
      columns.push({ name: `${f.name}_${agg}`, kind: agg === 'avg' ? 'double' : f.kind });
    }
  }
  if (!view.name.startsWith(dataset.id)) throw new Error(`view ${view.name} does not belong to ${dataset.id}`);
  return columns;
}

/**
 * A view as Athena stores it in Glue: the SQL and its column types in a
 * base64 "Presto View" document, so it exists after deploy with no query run.
 */
export function viewTable(view: ViewDefinition, dataset: Dataset, databaseName: string): GlueTableInput {
  const columns = viewColumns(view, dataset);
  const document = {
    originalSql: view.sql,
    catalog: 'awsdatacatalog',
    schema: databaseName,
    columns: columns.map((c) => ({ name: c.name, type: PRESTO_TYPES[c.kind] })),
  };
  return {
    name: view.name,
    description: view.description,
    tableType: 'VIRTUAL_VIEW',
    parameters: { presto_view: 'true', comment: 'Presto View', ...governanceParameters(dataset) },
    partitionKeys: [],
    storageDescriptor: { columns: columns.map((c) => ({ name: c.name, type: GLUE_TYPES[c.kind] })) },
    viewOriginalText: `/* Presto View: ${Buffer.from(JSON.stringify(document)).toString('base64')} */`,
    viewExpandedText: '/* Presto View */',
  };
}

/** Every view of one dataset. */
export function viewsOf(dataset: Dataset): readonly ViewDefinition[] {
  return allViews([dataset]);
}
