import { Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lakeformation from 'aws-cdk-lib/aws-lakeformation';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CLASSIFICATIONS, type Classification, type Dataset } from '../../datasets/index.ts';
import { zonePrefix } from '../../functions/core/keys.ts';
import { placesPrefix } from '../../functions/core/places.ts';
import { acknowledgeObjectPrefixes } from '../governance/nag.ts';
import { tagComponent } from '../governance/tags.ts';
import { readPolicyName, WORKGROUP_ROLES, workgroupName, workgroupResultsPrefix, type WorkgroupRole } from '../names.ts';

export { WORKGROUP_ROLES, type WorkgroupRole } from '../names.ts';

/**
 * Access tiers by classification: each grants its own classification and
 * every more open one (shared readers see open data too).
 */
export const ACCESS_TIERS: Readonly<Record<Classification, readonly Classification[]>> = {
  open: ['open'],
  shared: ['open', 'shared'],
  closed: ['open', 'shared', 'closed'],
};

/** Props of {@link QueryAccess}. */
export interface QueryAccessProps {
  readonly envName: string;
  readonly datasets: readonly Dataset[];
  readonly curatedBucket: s3.IBucket;
  readonly resultsBucket: s3.IBucket;
  readonly key: kms.IKey;
  readonly databaseName: string;
  /** Glue names of what readers of a dataset may query: its curated table and its views. */
  readonly readableTables: (dataset: Dataset) => readonly string[];
  /** The sensors table every tier may query; each reads the places of its own datasets only. @default - none */
  readonly placesTable?: string;
  /** Athena stops a query that would scan more than this many bytes. */
  readonly bytesScannedCutoffPerQuery: number;
  /** @default false */
  readonly lakeFormationTags?: boolean;
}

/**
 * What the Athena JDBC and ODBC drivers call to let a BI tool browse the
 * catalog: listing catalogs, databases, tables and workgroups, and reading
 * table metadata. The first two take no resource; the others act on the
 * account's AwsDataCatalog.
 */
export const BROWSE_ACTIONS = {
  anyResource: ['athena:ListDataCatalogs', 'athena:ListWorkGroups'],
  dataCatalog: ['athena:GetDataCatalog', 'athena:ListDatabases', 'athena:GetDatabase', 'athena:ListTableMetadata', 'athena:GetTableMetadata'],
} as const;

/** The tiers that read less than `tier`: whose results a reader of `tier`'s data must never write to. */
export function lowerTiers(tier: Classification): readonly Classification[] {
  return ACCESS_TIERS[tier].filter((t) => t !== tier);
}

/**
 * Athena workgroups, one per purpose and classification tier (configuration
 * enforced, results encrypted under the workgroup's own prefix, a per-query
 * scan cutoff, metrics on), and one managed policy per classification tier
 * that grants querying in that tier's workgroups only, reading their results
 * only, reading the curated data and tables of exactly the datasets the tier
 * may see, and browsing the catalog as BI drivers do. Raw tables are in no tier.
 */
export class QueryAccess extends Construct {
  readonly workgroups: Readonly<Record<WorkgroupRole, Readonly<Record<Classification, athena.CfnWorkGroup>>>>;
  readonly policies: Readonly<Record<Classification, iam.ManagedPolicy>>;

  constructor(scope: Construct, id: string, props: QueryAccessProps) {
    super(scope, id);
    tagComponent(this, 'query');
    const stack = Stack.of(this);
    const workgroup = (role: WorkgroupRole, tier: Classification) =>
      new athena.CfnWorkGroup(this, `Workgroup-${role}-${tier}`, {
        name: workgroupName(props.envName, role, tier),
        description: `Datastroom ${props.envName}: ${role === 'bi' ? 'BI tools (Power BI, Tableau, Qlik)' : 'analysts'} reading ${ACCESS_TIERS[tier].join(', ')} data`,
        state: 'ENABLED',
        // The workgroups go with the stack: Athena refuses to delete one that has run a query unless
        // asked to delete its query history too. The history is not lake data; results stay in their bucket.
        recursiveDeleteOption: true,
        workGroupConfiguration: {
          // Enforced: a query cannot send its results anywhere but the tier's own prefix.
          enforceWorkGroupConfiguration: true,
          publishCloudWatchMetricsEnabled: true,
          bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery,
          engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
          resultConfiguration: {
            outputLocation: props.resultsBucket.s3UrlForObject(workgroupResultsPrefix(role, tier)),
            encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: props.key.keyArn },
          },
        },
      });
    const workgroups = {} as Record<WorkgroupRole, Record<Classification, athena.CfnWorkGroup>>;
    for (const role of WORKGROUP_ROLES) {
      workgroups[role] = {} as Record<Classification, athena.CfnWorkGroup>;
      for (const tier of CLASSIFICATIONS) workgroups[role][tier] = workgroup(role, tier);
    }
    this.workgroups = workgroups;
    const workgroupArns = (tier: Classification) =>
      WORKGROUP_ROLES.map((r) => stack.formatArn({ service: 'athena', resource: 'workgroup', resourceName: workgroupName(props.envName, r, tier) }));

    const policies = {} as Record<Classification, iam.ManagedPolicy>;
    for (const tier of CLASSIFICATIONS) {
      const datasets = props.datasets.filter((d) => ACCESS_TIERS[tier].includes(d.governance.classification));
      const tables = [...datasets.flatMap((d) => props.readableTables(d)), ...(props.placesTable === undefined ? [] : [props.placesTable])];
      // The curated data, the quarantine records and the sensors' places (same bucket): all the dataset's, at its classification.
      const prefixes = datasets.flatMap((d) => [zonePrefix('curated', d.id), zonePrefix('quarantine', d.id), placesPrefix(d.id)]);
      const resultPrefixes = WORKGROUP_ROLES.map((r) => workgroupResultsPrefix(r, tier));
      const statements = [
        new iam.PolicyStatement({
          sid: 'QueryInWorkgroups',
          actions: [
            'athena:StartQueryExecution',
            'athena:StopQueryExecution',
            'athena:GetQueryExecution',
            'athena:GetQueryResults',
            'athena:GetQueryResultsStream',
            'athena:ListQueryExecutions',
            'athena:GetWorkGroup',
          ],
          resources: workgroupArns(tier),
        }),
        // A principal holding a lower tier's policy as well could otherwise run a query over this tier's
        // data in the lower tier's workgroup, and its results would land where that lower tier reads them.
        ...(lowerTiers(tier).length === 0
          ? []
          : [
              new iam.PolicyStatement({
                sid: 'NoQueriesInLowerTiers',
                effect: iam.Effect.DENY,
                actions: ['athena:StartQueryExecution'],
                resources: lowerTiers(tier).flatMap(workgroupArns),
              }),
            ]),
        new iam.PolicyStatement({ sid: 'BrowseCatalogs', actions: [...BROWSE_ACTIONS.anyResource], resources: ['*'] }),
        new iam.PolicyStatement({
          sid: 'BrowseDataCatalog',
          actions: [...BROWSE_ACTIONS.dataCatalog],
          resources: [stack.formatArn({ service: 'athena', resource: 'datacatalog', resourceName: 'AwsDataCatalog' })],
        }),
        new iam.PolicyStatement({
          sid: 'ReadCatalog',
          actions: ['glue:GetDatabase', 'glue:GetDatabases', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
          resources: [
            stack.formatArn({ service: 'glue', resource: 'catalog' }),
            stack.formatArn({ service: 'glue', resource: 'database', resourceName: props.databaseName }),
            ...tables.map((t) => stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${props.databaseName}/${t}` })),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'ReadCuratedData',
          actions: ['s3:GetObject'],
          resources: prefixes.map((p) => props.curatedBucket.arnForObjects(`${p}*`)),
        }),
        new iam.PolicyStatement({
          sid: 'ListCuratedData',
          actions: ['s3:ListBucket'],
          resources: [props.curatedBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': prefixes.flatMap((p) => [p, `${p}*`]) } },
        }),
        // GetBucketLocation carries no s3:prefix: under the condition above it would always be denied.
        new iam.PolicyStatement({ sid: 'LocateCuratedData', actions: ['s3:GetBucketLocation'], resources: [props.curatedBucket.bucketArn] }),
        // Athena reads and writes results with the caller's credentials: the tier's own workgroups' prefixes only.
        new iam.PolicyStatement({
          sid: 'QueryResults',
          actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
          resources: resultPrefixes.map((p) => props.resultsBucket.arnForObjects(`${p}*`)),
        }),
        new iam.PolicyStatement({
          sid: 'ListQueryResults',
          actions: ['s3:ListBucket'],
          resources: [props.resultsBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': resultPrefixes.flatMap((p) => [p, `${p}*`]) } },
        }),
        new iam.PolicyStatement({ sid: 'LocateQueryResults', actions: ['s3:GetBucketLocation'], resources: [props.resultsBucket.bucketArn] }),
        new iam.PolicyStatement({
          sid: 'UseLakeKey',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.key.keyArn],
        }),
      ];
      policies[tier] = new iam.ManagedPolicy(this, `Read-${tier}`, {
        managedPolicyName: readPolicyName(props.envName, tier),
        description: `Query the ${ACCESS_TIERS[tier].join(', ')} datasets of Datastroom ${props.envName} in Athena`,
        statements,
      });
      acknowledgeObjectPrefixes(policies[tier], props.curatedBucket, prefixes, `Readers of ${tier} data read the curated objects of exactly these datasets.`);
      Validations.of(policies[tier]).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'athena:ListDataCatalogs and athena:ListWorkGroups support no resource-level permissions; BI drivers call them to browse.',
      });
      acknowledgeObjectPrefixes(
        policies[tier],
        props.resultsBucket,
        resultPrefixes,
        `Athena writes each query's results under its workgroup's prefix; readers of ${tier} data fetch those of their own workgroups only.`,
      );
    }
    this.policies = policies;

    if (props.lakeFormationTags ?? false) {
      const tagKey = 'datastroom_classification';
      const lfTag = new lakeformation.CfnTag(this, 'ClassificationTag', {
        catalogId: stack.account,
        tagKey,
        tagValues: [...CLASSIFICATIONS],
      });
      for (const dataset of props.datasets) {
        for (const table of props.readableTables(dataset)) {
          const association = new lakeformation.CfnTagAssociation(this, `Classify-${table}`, {
            resource: { table: { catalogId: stack.account, databaseName: props.databaseName, name: table } },
            lfTags: [{ catalogId: stack.account, tagKey, tagValues: [dataset.governance.classification] }],
          });
          association.node.addDependency(lfTag);
        }
      }
    }
  }
}
