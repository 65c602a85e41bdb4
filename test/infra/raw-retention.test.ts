/**
 * How long a clear-text version of a raw object of a dataset with personal
 * data lives in the versioned raw bucket, computed from the synthesized
 * lifecycle rules with S3's own arithmetic (S3 User Guide, "Lifecycle rules:
 * based on an object's age"), independently of the governance check: an
 * expiration falls due at creation + Days, rounded up to the next midnight
 * UTC, and only makes the version noncurrent (a delete marker); a
 * noncurrent version falls due at the time it became noncurrent +
 * NoncurrentDays, rounded up to the next midnight UTC. S3 acts at or after
 * the due time, never before; the background lag after it is S3's (it bills
 * no storage after the due time), so the latest due time is what the
 * retention bounds. Objects written at any time of day are tried.
 */
import { describe, expect, it } from 'vitest';
import { registry } from '../../datasets/index.ts';
import { rawPrefixes } from '../../infra/constructs/lake-storage.ts';
import { platform } from '../helpers/stack.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** S3's rounding: the next midnight UTC strictly after t (a step due exactly at midnight is taken as due a day later: the worst case). */
const nextMidnight = (t: number) => (Math.floor(t / DAY) + 1) * DAY;

type Rule = { Status: string; Prefix?: string; ExpirationInDays?: number; NoncurrentVersionExpiration?: { NoncurrentDays: number } };

function rawBucketRules(): Rule[] {
  const { template } = platform();
  const [raw] = Object.values(template.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } }));
  const rules = (raw?.Properties as { LifecycleConfiguration?: { Rules: Rule[] } } | undefined)?.LifecycleConfiguration?.Rules ?? [];
  return rules.filter((r) => r.Status === 'Enabled');
}

/** Hours from writing until the last version of an object under the prefix is due for removal. */
function lastVersionDueAfterHours(rules: Rule[], prefix: string, writtenAt: number): number {
  const covering = rules.filter((r) => prefix.startsWith(r.Prefix ?? ''));
  // S3 honours the shortest of overlapping expirations.
  const expiry = Math.min(...covering.flatMap((r) => (r.ExpirationInDays === undefined ? [] : [r.ExpirationInDays])));
  const noncurrent = Math.min(...covering.flatMap((r) => (r.NoncurrentVersionExpiration ? [r.NoncurrentVersionExpiration.NoncurrentDays] : [])));
  const markerPlaced = nextMidnight(writtenAt + expiry * DAY);
  const removed = nextMidnight(markerPlaced + noncurrent * DAY);
  return (removed - writtenAt) / HOUR;
}

const personal = registry.filter((d) => d.governance.personalData.length > 0);

describe('clear-text raw versions of personal data under S3’s lifecycle arithmetic', () => {
  const rules = rawBucketRules();

  it('are among the registry’s datasets', () => {
    expect(personal.map((d) => d.id)).toEqual(['anpr_passage']);
  });

  it.each(personal.map((d) => [d.id, d.retention.rawDays] as const))('of %s are all due for removal within the raw retention (%i days)', (id, rawDays) => {
    const day = 200 * DAY;
    for (const prefix of Object.values(rawPrefixes(id))) {
      const latest = Math.max(...[0, 1000, 12 * HOUR, DAY - 1000].map((offset) => lastVersionDueAfterHours(rules, prefix, day + offset)));
      expect({ prefix, days: latest / 24 }).toEqual({ prefix, days: rawDays });
    }
  });
});
