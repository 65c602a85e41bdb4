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
 * Days S3 can add to each lifecycle step: it computes when a step falls due
 * by adding the rule's days to the object's creation (or, for a noncurrent
 * version, to when its successor, the delete marker, was created) and
 * rounding up to the next midnight UTC. Modelled here independently of the
 * constructs that choose the rules.
 */
const S3_ROUNDING_DAYS = 1;

/** How long objects under a prefix live: by the rules' day counts, and at most, S3's rounding counted. */
interface Lifetime {
  readonly current?: number;
  readonly noncurrent?: number;
  /** The rules' day counts added up. */
  readonly total?: number;
  /** The latest any version is due for removal, in days after it was written. */
  readonly longest?: number;
}

/**
 * How long objects under a prefix live, in days: S3 honours the shortest of
 * the rules that cover the prefix; in a versioned bucket an expired object
 * lives on as a noncurrent version until a noncurrent expiry removes it, and
 * each of the two steps can fall due up to a day later than its day count.
 */
function lifetime(bucket: CfnBucket, prefix: string): Lifetime {
  const covering = lifecycleRules(bucket).filter((r) => prefix.startsWith(r.prefix ?? ''));
  const current = shortest(covering.map((r) => r.expirationInDays));
  if (!isVersioned(bucket)) return { current, total: current, longest: current === undefined ? undefined : current + S3_ROUNDING_DAYS };
  const noncurrent = shortest(covering.map((r) => r.noncurrentVersionExpiration?.noncurrentDays ?? r.noncurrentVersionExpirationInDays));
  if (current === undefined || noncurrent === undefined) return { current, noncurrent };
  return { current, noncurrent, total: current + noncurrent, longest: current + noncurrent + 2 * S3_ROUNDING_DAYS };
}

function describe(life: Lifetime): string {
  if (life.total === undefined) return life.current === undefined ? 'forever' : `${life.current} days and its noncurrent versions forever`;
  return life.noncurrent === undefined ? `${life.total} days` : `${life.total} days (${life.current} current + ${life.noncurrent} noncurrent)`;
}

function describeLongest(life: Lifetime): string {
  if (life.longest === undefined) return describe(life);
  return `up to ${life.longest} days (${describe(life)}, and up to ${(life.longest - (life.total ?? 0))} more as S3 rounds each step up to the next midnight UTC)`;
}

/**
 * The synth-time governance check: synth fails, naming the construct or the
 * dataset, when a dataset's governance record or retention is incomplete,
 * when its lifecycle expiry does not match its retention (counting the
 * noncurrent versions a versioned bucket keeps, and the failed records of
 * its topic rule and delivery stream), when a clear-text version of a
 * dataset with personal data can outlive its raw retention once S3 has
 * rounded each lifecycle step up to the next midnight UTC, or when a
 * taggable resource lacks the platform's or its dataset's tags.
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
    const personal = dataset.governance.personalData;
    const problems: string[] = [];
    for (const zone of Object.keys(expected) as Zone[]) {
      if (zone === 'raw' && personal.length > 0) continue;
      const prefix = zonePrefix(zone, dataset.id);
      const life = lifetime(zones[zone], prefix);
      if (life.total !== expected[zone]) {
        const versioned = life.noncurrent === undefined ? '' : ', in every version';
        problems.push(
          `dataset "${dataset.id}": ${zone} objects (${prefix}) must be gone after ${expected[zone]} days${versioned}; the lifecycle keeps them ${describe(life)}`,
        );
      }
    }
    const { zone: rawZone, ruleErrors, deliveryErrors } = rawPrefixes(dataset.id);
    if (personal.length > 0) {
      // Clear-text personal data: the raw retention is a ceiling on every version, S3's rounding included.
      for (const prefix of [rawZone, ruleErrors, deliveryErrors]) {
        const life = lifetime(zones.raw, prefix);
        if (life.longest === undefined || life.longest > expected.raw) {
          problems.push(
            `dataset "${dataset.id}": clear-text ${personal.join(', ')} under ${prefix} must be gone within ${expected.raw} days in every version; the lifecycle keeps them ${describeLongest(life)}`,
          );
        }
      }
      return problems;
    }
    // Failed records hold the same clear-text messages as the raw zone: gone no later than it.
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
