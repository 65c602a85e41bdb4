import { CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { findPullSource, pullSources, registry, type Dataset } from '../../datasets/index.ts';
import { CONFIG_DEFAULTS, ConfigError, type PlatformConfig } from '../config.ts';
import { Catalog } from '../constructs/catalog.ts';
import { Compaction } from '../constructs/compaction.ts';
import { Ingestion } from '../constructs/ingestion.ts';
import { Integrations } from '../constructs/integrations.ts';
import { LakeStorage } from '../constructs/lake-storage.ts';
import { Observability } from '../constructs/observability.ts';
import { Publishing } from '../constructs/publishing.ts';
import { QueryAccess } from '../constructs/query-access.ts';
import { Transform } from '../constructs/transform.ts';
import { GovernanceCheck } from '../governance/check.ts';
import { TAG_KEYS } from '../governance/tags.ts';
import { readPolicyName, STACK_OUTPUTS, WORKGROUP_ROLES, workgroupOutputKey } from '../names.ts';
import { CLASSIFICATIONS } from '../../datasets/index.ts';

/** Props of {@link DatastroomStack}. */
export interface DatastroomStackProps extends StackProps {
  /** @default CONFIG_DEFAULTS */
  readonly config?: PlatformConfig;
  /** The datasets to deploy. @default the registry */
  readonly datasets?: readonly Dataset[];
  /** The synth's date, against which the partition projection's start is chosen. @default - now */
  readonly today?: Date;
}

/**
 * The whole platform in one environment-agnostic stack: lake storage,
 * ingestion, transform, catalog, query access, alarms and the open-data
 * portal, every part derived
 * from the dataset registry, with the governance check run at synth.
 */
export class DatastroomStack extends Stack {
  readonly storage: LakeStorage;
  readonly ingestion: Ingestion;
  readonly transform: Transform;
  readonly catalog: Catalog;
  readonly query: QueryAccess;
  readonly observability: Observability;
  readonly compaction: Compaction;
  readonly publishing: Publishing;
  readonly integrations: Integrations;

  constructor(scope: Construct, id: string, props: DatastroomStackProps = {}) {
    super(scope, id, { description: 'Datastroom: sensors over MQTT into a governed data lake, SQL and BI out', ...props });
    // Server access logs are granted by bucket policy, not a legacy ACL, so every bucket can enforce object ownership.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const config = props.config ?? CONFIG_DEFAULTS;
    const datasets = props.datasets ?? registry;
    const metricsNamespace = `Datastroom/${config.envName}`;
    Tags.of(this).add(TAG_KEYS.platform, 'datastroom');
    Tags.of(this).add(TAG_KEYS.environment, config.envName);

    this.storage = new LakeStorage(this, 'Storage', {
      envName: config.envName,
      datasets,
      destroyData: config.destroyData,
      queryResultsDays: config.queryResultsDays,
    });
    const { key, rawBucket, curatedBucket, resultsBucket } = this.storage;
    this.ingestion = new Ingestion(this, 'Ingestion', { envName: config.envName, datasets, rawBucket, key });
    this.integrations = new Integrations(this, 'Integrations', {
      envName: config.envName,
      key,
      ingestion: this.ingestion.datasets,
      rawBucket,
      pullSources: (config.pullSources ?? []).map((id) => {
        const source = findPullSource(id);
        if (!source) throw new ConfigError('pullSources', `no pull source "${id}": declared are ${pullSources.map((p) => p.id).join(', ')}`);
        if (!datasets.some((d) => d.id === source.datasetId)) throw new ConfigError('pullSources', `pull source "${id}" feeds ${source.datasetId}, which this stack does not deploy`);
        return source;
      }),
    });
    this.transform = new Transform(this, 'Transform', {
      envName: config.envName,
      datasets,
      rawBucket,
      curatedBucket,
      key,
      destroyData: config.destroyData,
      metricsNamespace,
    });
    this.catalog = new Catalog(this, 'Catalog', {
      envName: config.envName,
      datasets,
      rawBucket,
      curatedBucket,
      destroyData: config.destroyData,
      lakeStart: config.lakeStart,
      today: props.today,
    });
    const tables = this.catalog.tables;
    this.query = new QueryAccess(this, 'Query', {
      envName: config.envName,
      datasets,
      curatedBucket,
      resultsBucket,
      key,
      databaseName: this.catalog.databaseName,
      readableTables: (d) => {
        const t = tables.get(d.id);
        return t ? [t.curated, ...t.views] : [];
      },
      placesTable: this.catalog.placesTable,
      bytesScannedCutoffPerQuery: Math.max(10, Math.round(config.bytesScannedCutoffMb)) * 1024 * 1024,
      lakeFormationTags: config.lakeFormationTags,
    });
    this.query.node.addDependency(this.catalog);
    this.observability = new Observability(this, 'Observability', {
      envName: config.envName,
      key,
      deadLetterQueue: this.transform.deadLetterQueue,
      transformFunction: this.transform.function,
      ingestion: this.ingestion.datasets,
      metricsNamespace,
      freshnessIntervals: config.freshnessIntervals,
      quarantineRateThreshold: config.quarantineRateThreshold,
    });
    this.compaction = new Compaction(this, 'Compaction', {
      envName: config.envName,
      datasets,
      curatedBucket,
      key,
      alarmTopic: this.observability.topic,
      metricsNamespace,
    });

    this.publishing = new Publishing(this, 'Publishing', {
      envName: config.envName,
      datasets,
      curatedBucket,
      key,
      logBucket: this.storage.logBucket,
      alarmTopic: this.observability.topic,
      destroyData: config.destroyData,
    });

    this.node.addValidation(new GovernanceCheck(this, datasets, () => this.storage.zones()));

    const output = (name: string, value: string, description: string) => new CfnOutput(this, name, { value, description });
    output(STACK_OUTPUTS.envName, config.envName, 'Environment name: IoT thing types and device policies are named by it');
    output(STACK_OUTPUTS.rawBucket, rawBucket.bucketName, 'Raw zone bucket');
    output(STACK_OUTPUTS.curatedBucket, curatedBucket.bucketName, 'Curated and quarantine zone bucket');
    output(STACK_OUTPUTS.resultsBucket, resultsBucket.bucketName, 'Athena query results bucket');
    output(STACK_OUTPUTS.database, this.catalog.databaseName, 'Glue database of the curated tables and views');
    for (const role of WORKGROUP_ROLES) {
      for (const tier of CLASSIFICATIONS) {
        output(workgroupOutputKey(role, tier), this.query.workgroups[role][tier].name, `Athena workgroup for ${role} holding the ${readPolicyName(config.envName, tier)} policy`);
      }
    }
    for (const tier of CLASSIFICATIONS) {
      output(`ReadPolicy${tier[0]?.toUpperCase()}${tier.slice(1)}`, this.query.policies[tier].managedPolicyArn, `Managed policy: query ${tier} data`);
    }
    output(STACK_OUTPUTS.alarmTopic, this.observability.topic.topicArn, 'Subscribe to be alarmed');
    output(STACK_OUTPUTS.portalUrl, this.publishing.url, 'The open-data portal: the open datasets\' files, their catalog (catalog.ttl, catalog.jsonld) and the public dashboard (dashboard/)');
    output(STACK_OUTPUTS.portalBucket, this.publishing.bucket.bucketName, 'The open-data portal\'s bucket, which only CloudFront reads');
    output(STACK_OUTPUTS.pushEndpoint, this.integrations.url, 'HTTP push: integrations POST to <this>ingest/<dataset>[/<format>]');
  }
}
