import { CfnResource, Stack, TagManager } from 'aws-cdk-lib';
import { CfnBucket } from 'aws-cdk-lib/aws-s3';
import type { IConstruct, IValidation } from 'constructs';
import { checkGovernance, DatasetDefinitionError, type Dataset } from '../../datasets/index.ts';
import { zonePrefix, type Zone } from '../../functions/core/keys.ts';
import { rawPrefixes } from '../constructs/lake-storage.ts';
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
  noncurrentVersionExpiration?: { noncurrentDays?: number };
  noncurrentVersionExpirationInDays?: number;
  status?: string;
}

function lifecycleRules(bucket: CfnBucket): LifecycleRule[] {
  const config = Stack.of(bucket).resolve(bucket.lifecycleConfiguration) as { rules?: LifecycleRule[] } | undefined;
  return (config?.rules ?? []).filter((r) => r.status === 'Enabled');
}

function isVersioned(bucket: CfnBucket): boolean {
  const config = Stack.of(bucket).resolve(bucket.versioningConfiguration) as { status?: string } | undefined;
  return config?.status === 'Enabled';
}

const shortest = (values: (number | undefined)[]): number | undefined => {
  const days = values.filter((v): v is number => typeof v === 'number');
  return days.length > 0 ? Math.min(...days) : undefined;
};

/**
 * How long objects under a prefix live, in days: S3 honours the shortest of
 * the rules that cover the prefix; in a versioned bucket an expired object
 * lives on as a noncurrent version until a noncurrent expiry removes it.
 */
function lifetime(bucket: CfnBucket, prefix: string): { current?: number; noncurrent?: number; total?: number } {
  const covering = lifecycleRules(bucket).filter((r) => prefix.startsWith(r.prefix ?? ''));
  const current = shortest(covering.map((r) => r.expirationInDays));
  if (!isVersioned(bucket)) return { current, total: current };
  const noncurrent = shortest(covering.map((r) => r.noncurrentVersionExpiration?.noncurrentDays ?? r.noncurrentVersionExpirationInDays));
  return { current, noncurrent, total: current === undefined || noncurrent === undefined ? undefined : current + noncurrent };
}

function describe(life: { current?: number; noncurrent?: number; total?: number }): string {
  if (life.total === undefined) return life.current === undefined ? 'forever' : `${life.current} days and its noncurrent versions forever`;
  return life.noncurrent === undefined ? `${life.total} days` : `${life.total} days (${life.current} current + ${life.noncurrent} noncurrent)`;
}

/**
 * The synth-time governance check: synth fails, naming the construct or the
 * dataset, when a dataset's governance record or retention is incomplete,
 * when its lifecycle expiry does not match its retention (counting the
 * noncurrent versions a versioned bucket keeps, and the failed records of
 * its topic rule and delivery stream), or when a taggable resource lacks the
 * platform's or its dataset's tags.
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
      const life = lifetime(zones[zone], prefix);
      if (life.total !== expected[zone]) {
        const versioned = life.noncurrent === undefined ? '' : ', in every version';
        problems.push(
          `dataset "${dataset.id}": ${zone} objects (${prefix}) must be gone after ${expected[zone]} days${versioned}; the lifecycle keeps them ${describe(life)}`,
        );
      }
    }
    // Failed records hold the same clear-text messages as the raw zone: gone no later than it.
    const { ruleErrors, deliveryErrors } = rawPrefixes(dataset.id);
    for (const prefix of [ruleErrors, deliveryErrors]) {
      const life = lifetime(zones.raw, prefix);
      if (life.total === undefined || life.total > expected.raw) {
        problems.push(
          `dataset "${dataset.id}": failed records (${prefix}) must be gone within the raw retention of ${expected.raw} days; the lifecycle keeps them ${describe(life)}`,
        );
      }
    }
    return problems;
  }
}
