import { CfnResource, Stack, TagManager } from 'aws-cdk-lib';
import { CfnBucket } from 'aws-cdk-lib/aws-s3';
import type { IConstruct, IValidation } from 'constructs';
import { checkGovernance, DatasetDefinitionError, type Dataset } from '../../datasets/index.ts';
import { zonePrefix, type Zone } from '../../functions/core/keys.ts';
import { DATASET_TAG_KEYS, PLATFORM_TAG_KEYS, TAG_KEYS } from './tags.ts';

/** The zones and the bucket (by role) that holds each; the lifecycle check reads it. */
export type ZoneBuckets = Readonly<Record<Zone, CfnBucket>>;

function tagsOf(resource: CfnResource): Record<string, string> | undefined {
  if (!TagManager.isTaggable(resource)) return undefined;
  return resource.tags.tagValues();
}

interface LifecycleRule {
  prefix?: string;
  expirationInDays?: number;
  status?: string;
}

function lifecycleRules(bucket: CfnBucket): LifecycleRule[] {
  const config = Stack.of(bucket).resolve(bucket.lifecycleConfiguration) as { rules?: LifecycleRule[] } | undefined;
  return config?.rules ?? [];
}

/**
 * The synth-time governance check: synth fails, naming the construct or the
 * dataset, when a dataset's governance record or retention is incomplete,
 * when its lifecycle expiry does not match its retention, or when a taggable
 * resource lacks the platform's or its dataset's tags.
 */
export class GovernanceCheck implements IValidation {
  constructor(
    private readonly scope: IConstruct,
    private readonly datasets: readonly Dataset[],
    private readonly zones: () => ZoneBuckets,
  ) {}

  validate(): string[] {
    const problems: string[] = [];
    for (const dataset of this.datasets) {
      try {
        checkGovernance(dataset, dataset.fields);
      } catch (error) {
        problems.push(error instanceof DatasetDefinitionError ? error.message : `dataset "${dataset.id}": ${String(error)}`);
        continue;
      }
      problems.push(...this.lifecycleProblems(dataset));
    }
    const tagged = new Set<string>();
    for (const construct of this.scope.node.findAll()) {
      if (!(construct instanceof CfnResource)) continue;
      const tags = tagsOf(construct);
      if (!tags) continue;
      const missing: string[] = PLATFORM_TAG_KEYS.filter((k) => !(k in tags));
      const dataset = tags[TAG_KEYS.dataset];
      if (dataset !== undefined) {
        tagged.add(dataset);
        missing.push(...DATASET_TAG_KEYS.filter((k) => !(k in tags)));
      }
      if (missing.length > 0) problems.push(`${construct.node.path} lacks governance tags: ${missing.join(', ')}`);
    }
    for (const dataset of this.datasets) {
      if (!tagged.has(dataset.id)) problems.push(`dataset "${dataset.id}": no resource carries its governance tags`);
    }
    return problems;
  }

  private lifecycleProblems(dataset: Dataset): string[] {
    const zones = this.zones();
    const expected: Record<Zone, number> = {
      raw: dataset.retention.rawDays,
      curated: dataset.retention.curatedDays,
      quarantine: dataset.retention.quarantineDays,
    };
    const problems: string[] = [];
    for (const zone of Object.keys(expected) as Zone[]) {
      const prefix = zonePrefix(zone, dataset.id);
      const rule = lifecycleRules(zones[zone]).find((r) => r.prefix === prefix && r.status === 'Enabled');
      if (rule?.expirationInDays !== expected[zone]) {
        problems.push(
          `dataset "${dataset.id}": ${zone} objects (${prefix}) must expire after ${expected[zone]} days, the lifecycle says ${rule?.expirationInDays ?? 'never'}`,
        );
      }
    }
    return problems;
  }
}
