/**
 * Glue catalog definitions derived from the registry: the curated table of
 * each dataset (Parquet, partition projection on dt, no crawler), its raw
 * table for debugging, and its views (Athena "Presto views"). Plain objects
 * in the shape of Glue's TableInput; the CDK catalog construct only wraps them.
 */
import { EVENT_TIME_FIELD, PARTITION_COLUMN, type Dataset } from '../datasets/index.ts';
import { curatedColumns, quoteIdent } from '../functions/core/columns.ts';
import { zonePrefix } from '../functions/core/keys.ts';
import type { TransformPolicy } from '../functions/core/reading.ts';
import { GLUE_TYPES, type CatalogKind } from './columns.ts';
import { allViews, quarantineViewName, sensorsViewName, type ViewDefinition } from './views.ts';
import { PLACES_PREFIX, PLACES_TABLE } from '../functions/core/places.ts';

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
    readonly serdeInfo: { readonly serializationLibrary?: string; readonly parameters?: Readonly<Record<string, string>> };
    readonly compressed?: boolean;
    readonly numberOfBuckets?: number;
    readonly sortColumns?: readonly never[];
    readonly storedAsSubDirectories?: boolean;
  };
  readonly viewOriginalText?: string;
  readonly viewExpandedText?: string;
}

/** Where a table's data lives: bucket names (CloudFormation tokens at synth time are fine). */
export interface TableLocations {
  readonly rawBucket: string;
  readonly curatedBucket: string;
}

/**
 * The dt range partition projection offers, relative to the query's time in
 * Athena's documented form (NOW-<n>DAYS,NOW+<n>DAYS): a query without a dt
 * filter lists only the days that can hold data, never years of empty
 * prefixes.
 */
export function projectionRange(daysBack: number, daysAhead: number): string {
  const at = (days: number) => (days === 0 ? 'NOW' : `NOW${days > 0 ? '+' : '-'}${Math.abs(days)}DAYS`);
  return `${at(-daysBack)},${at(daysAhead)}`;
}

/**
 * When the lake began and the day of the synth. Before the lake is older
 * than a retention window, the oldest day that can hold data is fixed by
 * the lake's start, not by the window: the range starts there instead.
 */
export interface ProjectionClock {
  /** UTC date (YYYY-MM-DD) the lake first received data. @default - unknown: the retention window alone bounds the range */
  readonly lakeStart?: string;
  /** The day of the synth. */
  readonly today: Date;
}

const DAY_MS = 86_400_000;
const utcDay = (date: Date) => Math.floor(date.getTime() / DAY_MS);

/**
 * A range from daysBack before the query's day to daysAhead after it, or,
 * while the lake is young, from a fixed day: the lake's start minus the days
 * by which data can predate its arrival. A fixed start only ever lists more
 * days as time passes, never fewer, so data is never hidden; a later synth
 * moves to the relative form once the window has passed the fixed start.
 */
function rangeSince(clock: ProjectionClock | undefined, daysBack: number, daysBeforeArrival: number, daysAhead: number): string {
  const relative = projectionRange(daysBack, daysAhead);
  if (clock?.lakeStart === undefined) return relative;
  const first = utcDay(new Date(`${clock.lakeStart}T00:00:00Z`)) - daysBeforeArrival;
  if (utcDay(clock.today) - daysBack > first) return relative;
  return `${new Date(first * DAY_MS).toISOString().slice(0, 10)},${relative.split(',')[1]}`;
}

/**
 * The curated table's dt range. dt is the event date: a reading arrives up to
 * maxLatenessDays late and stays curatedDays after it arrives, so the oldest
 * partition that can hold data is curatedDays + maxLatenessDays back, and
 * never before the lake's start minus maxLatenessDays; one up to
 * futureToleranceSeconds early lands in a partition up to that many days
 * ahead, which must be queryable as soon as it is written.
 */
export function curatedProjectionRange(dataset: Dataset, policy: TransformPolicy, clock?: ProjectionClock): string {
  // Optional chaining: a dataset without retention still builds, so the governance check can name it.
  const curatedDays = dataset.retention?.curatedDays ?? 0;
  return rangeSince(clock, curatedDays + policy.maxLatenessDays, policy.maxLatenessDays, Math.ceil(policy.futureToleranceSeconds / 86_400));
}

/** The raw table's dt range: dt is the arrival date, kept rawDays, and never before the lake's start. */
export function rawProjectionRange(dataset: Dataset, clock?: ProjectionClock): string {
  return rangeSince(clock, dataset.retention?.rawDays ?? 0, 0, 0);
}

/** The quarantine table's dt range: dt is the arrival date, kept quarantineDays, and never before the lake's start. */
export function quarantineProjectionRange(dataset: Dataset, clock?: ProjectionClock): string {
  return rangeSince(clock, dataset.retention?.quarantineDays ?? 0, 0, 0);
}

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

function projection(locationPrefix: string, range: string): Record<string, string> {
  return {
    'projection.enabled': 'true',
    [`projection.${PARTITION_COLUMN}.type`]: 'date',
    [`projection.${PARTITION_COLUMN}.format`]: 'yyyy-MM-dd',
    [`projection.${PARTITION_COLUMN}.range`]: range,
    [`projection.${PARTITION_COLUMN}.interval`]: '1',
    [`projection.${PARTITION_COLUMN}.interval.unit`]: 'DAYS',
    'storage.location.template': `${locationPrefix}${PARTITION_COLUMN}=\${${PARTITION_COLUMN}}/`,
  };
}

/**
 * The partition column, a DATE on Athena as it is locally, so dt > current_date - 1
 * works on both. Partition projection's own type (date, format yyyy-MM-dd) only
 * tells Athena how to write the value into the location; the key's type is what
 * queries see, and yyyy-MM-dd is the text a Hive date is read from.
 */
const partitionKey: GlueColumn = { name: PARTITION_COLUMN, type: GLUE_TYPES.date, comment: 'Event date (UTC)' };

/**
 * The curated table: Parquet written by the transform, typed from the registry.
 * Athena reads Parquet columns by name, so a field added to a dataset is NULL
 * in the files written before it. Of type changes Athena documents reading
 * INT as BIGINT and FLOAT as DOUBLE only: a field widened from int to number
 * is declared double here, and the files written before as INT64 are read as
 * double only where the engine coerces them (locally DuckDB always does).
 */
export function curatedTable(dataset: Dataset, at: TableLocations, policy: TransformPolicy, clock?: ProjectionClock): GlueTableInput {
  const location = `s3://${at.curatedBucket}/${zonePrefix('curated', dataset.id)}`;
  return {
    name: dataset.id,
    description: `${dataset.title}: ${dataset.description}`,
    tableType: 'EXTERNAL_TABLE',
    parameters: {
      classification: 'parquet',
      EXTERNAL: 'TRUE',
      ...projection(location, curatedProjectionRange(dataset, policy, clock)),
      ...governanceParameters(dataset),
    },
    partitionKeys: [partitionKey],
    storageDescriptor: {
      columns: curatedColumns(dataset).map((c) => ({ name: c.name, type: GLUE_TYPES[c.kind], comment: c.comment })),
      location,
      ...PARQUET,
    },
  };
}

/** The raw table: the delivery stream's gzip JSON lines, one arrival per row, payload still encoded. */
export function rawTable(dataset: Dataset, at: TableLocations, clock?: ProjectionClock): GlueTableInput {
  const location = `s3://${at.rawBucket}/${zonePrefix('raw', dataset.id)}`;
  const columns: GlueColumn[] = [
    { name: 'messageid', type: 'string', comment: 'De-duplication key' },
    { name: 'sensorid', type: 'string', comment: 'Sensor (IoT thing name) from the topic' },
    { name: 'receivedat', type: 'string', comment: 'Arrival time (ISO 8601 UTC)' },
    { name: 'via', type: 'string', comment: 'The integration that delivered it (http:, pull:, mqtt:), if any' },
    { name: 'format', type: 'string', comment: 'The input format its delivery route declares, if any' },
    { name: 'payloadbase64', type: 'string', comment: 'The payload as it arrived, base64' },
  ];
  return {
    name: rawTableName(dataset),
    description: `${dataset.title}: raw arrivals by arrival date, for debugging (restricted: may hold personal data)`,
    tableType: 'EXTERNAL_TABLE',
    parameters: { classification: 'json', EXTERNAL: 'TRUE', ...projection(location, rawProjectionRange(dataset, clock)), ...governanceParameters(dataset) },
    partitionKeys: [{ ...partitionKey, comment: 'Arrival date (UTC), YYYY-MM-DD' }],
    storageDescriptor: { columns, location, ...JSON_LINES },
  };
}

/** The Presto (Trino) type of each column kind, as a view's document declares it. */
export const PRESTO_TYPES: Readonly<Record<CatalogKind, string>> = {
  timestamp: 'timestamp(3)',
  double: 'double',
  bigint: 'bigint',
  varchar: 'varchar',
  boolean: 'boolean',
  date: 'date',
};

/** Name of a dataset's quarantine table: its quarantine records as Athena reads them (the view of the same name less the suffix presents them). */
export function quarantineTableName(dataset: Dataset): string {
  return `${quarantineViewName(dataset)}_records`;
}

/** A column of a view, with the kind its SQL yields. */
export interface ViewColumn {
  readonly name: string;
  readonly kind: CatalogKind;
}

/** The quarantine view's columns: the same names and kinds as the local view. */
const QUARANTINE_VIEW_COLUMNS: readonly ViewColumn[] = [
  { name: PARTITION_COLUMN, kind: 'date' },
  { name: 'received_at', kind: 'timestamp' },
  { name: 'sensor_id', kind: 'varchar' },
  { name: 'reason', kind: 'varchar' },
  { name: 'message_id', kind: 'varchar' },
  { name: 'raw_key', kind: 'varchar' },
  { name: 'payload', kind: 'varchar' },
  { name: 'payload_base64', kind: 'varchar' },
  { name: 'payload_note', kind: 'varchar' },
];

/** A dataset's sensors view: each sensor's place and its readings per day. */
const SENSORS_VIEW_COLUMNS: readonly ViewColumn[] = [
  { name: PARTITION_COLUMN, kind: 'date' },
  { name: 'sensor_id', kind: 'varchar' },
  { name: 'name', kind: 'varchar' },
  { name: 'address', kind: 'varchar' },
  { name: 'latitude', kind: 'double' },
  { name: 'longitude', kind: 'double' },
  { name: 'readings', kind: 'bigint' },
  { name: 'first_reading', kind: 'timestamp' },
  { name: 'last_reading', kind: 'timestamp' },
];

/** The columns of the sensors table, as both engines give them (the local view's order too). */
export const PLACES_COLUMNS: readonly (GlueColumn & { readonly kind: CatalogKind })[] = [
  { name: 'sensor_id', type: 'string', kind: 'varchar', comment: 'Sensor (IoT thing name)' },
  { name: 'latitude', type: 'double', kind: 'double', comment: 'Latitude, WGS 84 decimal degrees' },
  { name: 'longitude', type: 'double', kind: 'double', comment: 'Longitude, WGS 84 decimal degrees' },
  { name: 'name', type: 'string', kind: 'varchar', comment: 'Name of the place' },
  { name: 'address', type: 'string', kind: 'varchar', comment: 'Street address' },
  { name: 'registered_at', type: 'string', kind: 'varchar', comment: 'When the place was recorded (ISO 8601 UTC)' },
];

/**
 * The sensors table: one JSON object per sensor under curated/_places/<dataset>/
 * (written by `sensors register`), read with the OpenX JSON SerDe, partitioned
 * by dataset with enum projection over the registry's ids.
 */
export function placesTable(datasets: readonly Dataset[], at: TableLocations): GlueTableInput {
  const location = `s3://${at.curatedBucket}/${PLACES_PREFIX}`;
  return {
    name: PLACES_TABLE,
    description: 'Where each sensor stands: latitude and longitude (WGS 84), name and address, by dataset',
    tableType: 'EXTERNAL_TABLE',
    parameters: {
      classification: 'json',
      EXTERNAL: 'TRUE',
      'projection.enabled': 'true',
      'projection.dataset.type': 'enum',
      'projection.dataset.values': datasets.map((d) => d.id).join(','),
      'storage.location.template': `${location}\${dataset}/`,
    },
    partitionKeys: [{ name: 'dataset', type: 'string', comment: 'The dataset the sensor reports to' }],
    storageDescriptor: {
      columns: PLACES_COLUMNS.map(({ name, type, comment }) => ({ name, type, comment })),
      location,
      ...JSON_LINES,
    },
  };
}

/** The columns a view yields, typed from the registry. */
export function viewColumns(view: ViewDefinition, dataset: Dataset): ViewColumn[] {
  if (!view.name.startsWith(dataset.id)) throw new Error(`view ${view.name} does not belong to ${dataset.id}`);
  if (view.name === quarantineViewName(dataset)) return [...QUARANTINE_VIEW_COLUMNS];
  if (view.name === sensorsViewName(dataset)) return [...SENSORS_VIEW_COLUMNS];
  const columns: ViewColumn[] = [
    { name: PARTITION_COLUMN, kind: 'date' },
    { name: 'hour', kind: 'timestamp' },
    { name: 'hour_local', kind: 'timestamp' },
    { name: 'sensor_id', kind: 'varchar' },
    { name: 'readings', kind: 'bigint' },
  ];
  for (const f of dataset.fields) {
    if (f.name === EVENT_TIME_FIELD) continue;
    for (const agg of f.aggregate) {
      columns.push({ name: `${f.name}_${agg}`, kind: agg === 'avg' ? 'double' : f.kind });
    }
  }
  return columns;
}

/**
 * The quarantine table: the transform's gzip JSON lines under
 * quarantine/<dataset>/dt=<arrival date>/, read with the OpenX JSON SerDe
 * (Athena decompresses .gz by its extension), camelCase keys mapped to
 * snake_case columns, the payload kept as its JSON text. Partition
 * projection over the dataset's quarantine retention.
 */
export function quarantineTable(dataset: Dataset, at: TableLocations, clock?: ProjectionClock): GlueTableInput {
  const location = `s3://${at.curatedBucket}/${zonePrefix('quarantine', dataset.id)}`;
  const mapped: Record<string, string> = {
    message_id: 'messageId',
    sensor_id: 'sensorId',
    received_at: 'receivedAt',
    raw_key: 'rawKey',
    payload_base64: 'payloadBase64',
    payload_note: 'payloadOmitted',
  };
  const columns: GlueColumn[] = [
    { name: 'reason', type: 'string', comment: 'Why the reading was refused' },
    { name: 'message_id', type: 'string', comment: 'Message id (with -<index> for an element of an array)' },
    { name: 'sensor_id', type: 'string', comment: 'Sensor from the topic' },
    { name: 'received_at', type: 'string', comment: 'Arrival time (ISO 8601 UTC)' },
    { name: 'raw_key', type: 'string', comment: 'The raw object that holds the message as it arrived' },
    { name: 'payload', type: 'string', comment: 'The reading as JSON text (personal values pseudonymised)' },
    { name: 'payload_base64', type: 'string', comment: 'A payload that is not JSON, base64' },
    { name: 'payload_note', type: 'string', comment: 'Why the payload is left out, where it is' },
  ];
  return {
    name: quarantineTableName(dataset),
    description: `${dataset.title}: refused readings with their reasons, by arrival date (query the ${quarantineViewName(dataset)} view)`,
    tableType: 'EXTERNAL_TABLE',
    parameters: {
      classification: 'json',
      EXTERNAL: 'TRUE',
      ...projection(location, quarantineProjectionRange(dataset, clock)),
      ...governanceParameters(dataset),
    },
    partitionKeys: [{ ...partitionKey, comment: 'Arrival date (UTC)' }],
    storageDescriptor: {
      columns,
      location,
      ...JSON_LINES,
      serdeInfo: {
        ...JSON_LINES.serdeInfo,
        parameters: { ...JSON_LINES.serdeInfo.parameters, ...Object.fromEntries(Object.entries(mapped).map(([column, key]) => [`mapping.${column}`, key])) },
      },
    },
  };
}

/**
 * The quarantine view on Athena: the quarantine table with the arrival time
 * as a timestamp (UTC), under the same name and columns as the local view.
 */
export function quarantineView(dataset: Dataset): ViewDefinition {
  const plain = ['sensor_id', 'reason', 'message_id', 'raw_key', 'payload', 'payload_base64', 'payload_note'].map(quoteIdent).join(', ');
  return {
    name: quarantineViewName(dataset),
    datasetId: dataset.id,
    description: `${dataset.title}: readings refused, with the reason (dt: arrival date, UTC)`,
    sql: `SELECT ${quoteIdent(PARTITION_COLUMN)}, CAST(from_iso8601_timestamp(${quoteIdent('received_at')}) AS timestamp) AS ${quoteIdent('received_at')}, ${plain} FROM ${quoteIdent(quarantineTableName(dataset))}`,
    reads: [quarantineTableName(dataset)],
  };
}

/** Athena's data catalog, as a view's document names it. */
export const ATHENA_CATALOG = 'awsdatacatalog';

/** The document Athena (Trino) decodes a view from: Trino's view definition. */
export interface PrestoViewDocument {
  readonly originalSql: string;
  readonly catalog: string;
  readonly schema: string;
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly runAsInvoker: boolean;
  readonly path: readonly never[];
}

/** The wrapping of a view's document in ViewOriginalText. */
export const PRESTO_VIEW_TEXT = { prefix: '/* Presto View: ', suffix: ' */', expanded: '/* Presto View */' } as const;

/**
 * A view as Athena's CREATE VIEW stores it in Glue, so it exists after deploy
 * with no query run: the SQL and its column types in a base64 "Presto View"
 * document, and a storage descriptor of the same shape as Athena's own
 * (engine v3 refuses a view whose storage descriptor has no SerdeInfo).
 * runAsInvoker and path are fields of Trino's view definition that the
 * decoder expects; false and empty are what a definer view without a path
 * carries.
 */
export function viewTable(view: ViewDefinition, dataset: Dataset, databaseName: string): GlueTableInput {
  const columns = viewColumns(view, dataset);
  const document: PrestoViewDocument = {
    originalSql: view.sql,
    catalog: ATHENA_CATALOG,
    schema: databaseName,
    columns: columns.map((c) => ({ name: c.name, type: PRESTO_TYPES[c.kind] })),
    runAsInvoker: false,
    path: [],
  };
  return {
    name: view.name,
    description: view.description,
    tableType: 'VIRTUAL_VIEW',
    parameters: { presto_view: 'true', comment: 'Presto View', ...governanceParameters(dataset) },
    partitionKeys: [],
    storageDescriptor: {
      columns: columns.map((c) => ({ name: c.name, type: GLUE_TYPES[c.kind] })),
      location: '',
      compressed: false,
      numberOfBuckets: 0,
      serdeInfo: {},
      sortColumns: [],
      storedAsSubDirectories: false,
    },
    viewOriginalText: `${PRESTO_VIEW_TEXT.prefix}${Buffer.from(JSON.stringify(document)).toString('base64')}${PRESTO_VIEW_TEXT.suffix}`,
    viewExpandedText: PRESTO_VIEW_TEXT.expanded,
  };
}

/** Every view of one dataset on Athena: the shared derived views, then its quarantine view. */
export function viewsOf(dataset: Dataset): readonly ViewDefinition[] {
  return [...allViews([dataset]), quarantineView(dataset)];
}
