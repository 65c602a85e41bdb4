import { Annotations, Aws, RemovalPolicy } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Dataset } from '../../datasets/index.ts';
import { TRANSFORM_DEFAULTS, type TransformPolicy } from '../../functions/core/reading.ts';
import { databaseName } from '../names.ts';
import { curatedTable, placesTable, quarantineTable, rawTable, viewsOf, viewTable, type GlueTableInput } from '../../glue/tables.ts';

/** Props of {@link Catalog}. */
export interface CatalogProps {
  readonly envName: string;
  readonly datasets: readonly Dataset[];
  readonly rawBucket: s3.IBucket;
  readonly curatedBucket: s3.IBucket;
  /**
   * @default false - the database and tables are retained when the stack is
   * deleted (and removed when the stack's first create rolls back)
   */
  readonly destroyData?: boolean;
  /**
   * The transform's window for event times; the curated tables' partition
   * projection covers it.
   * @default TRANSFORM_DEFAULTS
   */
  readonly policy?: TransformPolicy;
  /** UTC date (YYYY-MM-DD) the lake first received data. @default - unset: the projection spans the retention windows */
  readonly lakeStart?: string;
  /** The synth's date, which decides whether the lake is still younger than a window. @default - now */
  readonly today?: Date;
}

function toCfn(input: GlueTableInput): glue.CfnTable.TableInputProperty {
  return {
    name: input.name,
    description: input.description,
    tableType: input.tableType,
    parameters: input.parameters,
    partitionKeys: input.partitionKeys.map((c) => ({ ...c })),
    storageDescriptor: {
      ...input.storageDescriptor,
      columns: input.storageDescriptor.columns.map((c) => ({ ...c })),
      sortColumns: input.storageDescriptor.sortColumns ? [...input.storageDescriptor.sortColumns] : undefined,
    },
    viewOriginalText: input.viewOriginalText,
    viewExpandedText: input.viewExpandedText,
  };
}

/**
 * The Glue catalog: one database, and per dataset its curated table
 * (partition projection, no crawler), its raw table, its quarantine table
 * and its views, all derived from the registry by glue/.
 */
export class Catalog extends Construct {
  readonly database: glue.CfnDatabase;
  readonly databaseName: string;
  /** Glue table names per dataset: the curated table, the raw table, and what its readers query besides (the views and the quarantine table the quarantine view reads). */
  readonly tables: ReadonlyMap<string, { curated: string; raw: string; views: readonly string[] }>;
  /** The sensors table: every dataset's places, partitioned by dataset. */
  readonly placesTable: string;

  constructor(scope: Construct, id: string, props: CatalogProps) {
    super(scope, id);
    this.databaseName = databaseName(props.envName);
    const removalPolicy = props.destroyData ?? false ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: { name: this.databaseName, description: `Datastroom ${props.envName}: curated tables, raw tables and views` },
    });
    this.database.applyRemovalPolicy(removalPolicy);
    const at = { rawBucket: props.rawBucket.bucketName, curatedBucket: props.curatedBucket.bucketName };
    const clock = { lakeStart: props.lakeStart, today: props.today ?? new Date() };
    if (props.lakeStart === undefined) {
      Annotations.of(this).addWarningV2(
        'datastroom:lakeStart',
        'context "lakeStart" is not set: a query without a dt filter lists every day of the retention windows. Set it to the first deploy\'s date (-c lakeStart=YYYY-MM-DD, then in cdk.json) and keep it.',
      );
    }
    const places = placesTable(props.datasets, at);
    const placesTableResource = new glue.CfnTable(this, `Table-${places.name}`, { catalogId: Aws.ACCOUNT_ID, databaseName: this.databaseName, tableInput: toCfn(places) });
    placesTableResource.node.addDependency(this.database);
    placesTableResource.applyRemovalPolicy(removalPolicy);
    this.placesTable = places.name;
    const tables = new Map<string, { curated: string; raw: string; views: string[] }>();
    for (const dataset of props.datasets) {
      const curated = curatedTable(dataset, at, props.policy ?? TRANSFORM_DEFAULTS, clock);
      const raw = rawTable(dataset, at, clock);
      const quarantine = quarantineTable(dataset, at, clock);
      const views = viewsOf(dataset).map((v) => viewTable(v, dataset, this.databaseName));
      for (const input of [curated, raw, quarantine, ...views]) {
        const table = new glue.CfnTable(this, `Table-${input.name}`, {
          catalogId: Aws.ACCOUNT_ID,
          databaseName: this.databaseName,
          tableInput: toCfn(input),
        });
        table.node.addDependency(this.database);
        // A view is checked against the tables it reads, the sensors table among them.
        if (input.tableType === 'VIRTUAL_VIEW') table.node.addDependency(placesTableResource);
        table.applyRemovalPolicy(removalPolicy);
      }
      // An Athena view reads with its reader's rights: readers of the quarantine view need its table too.
      tables.set(dataset.id, { curated: curated.name, raw: raw.name, views: [...views.map((t) => t.name), quarantine.name] });
    }
    this.tables = tables;
  }
}
