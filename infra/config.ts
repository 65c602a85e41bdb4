import type { Node } from 'constructs';

/** Deployment settings, read once from CDK context (cdk.json or -c key=value). */
export interface PlatformConfig {
  /** Environment name in every resource name and tag. @default 'dev' */
  readonly envName: string;
  /** Athena refuses a query that would scan more than this. @default 10240 (10 GiB) */
  readonly bytesScannedCutoffMb: number;
  /**
   * Delete the buckets, key and catalog with the stack. Data is retained
   * unless this is set on purpose.
   * @default false
   */
  readonly destroyData: boolean;
  /** Days Athena query results are kept. @default 30 */
  readonly queryResultsDays: number;
  /**
   * A dataset's freshness alarm fires after this many of its update
   * intervals without a reading (e.g. 6 x PT10M = 1 hour).
   * @default 6
   */
  readonly freshnessIntervals: number;
  /** Share of quarantined readings (0..1) that raises the quarantine alarm. @default 0.05 */
  readonly quarantineRateThreshold: number;
  /** Tag datasets with Lake Formation tags by classification. @default false */
  readonly lakeFormationTags: boolean;
  /**
   * UTC date (YYYY-MM-DD) the lake first received data: the first deploy's
   * date. While the lake is younger than a retention window, the partition
   * projection starts from it (minus how late a reading may arrive) instead
   * of listing the whole window's empty days. Never later than the first
   * data: days before it would not be listed.
   * @default - unset: the projection spans the retention windows
   */
  readonly lakeStart: string | undefined;
  /**
   * Ids of the registry's pull sources to poll (datasets/pull-sources.ts),
   * as a list or comma-separated: each gets a schedule of its own.
   * @default - unset: none is polled
   */
  readonly pullSources: readonly string[] | undefined;
}

export const CONFIG_DEFAULTS: PlatformConfig = Object.freeze({
  envName: 'dev',
  bytesScannedCutoffMb: 10_240,
  destroyData: false,
  queryResultsDays: 30,
  freshnessIntervals: 6,
  quarantineRateThreshold: 0.05,
  lakeFormationTags: false,
  lakeStart: undefined,
  pullSources: undefined,
});

/** A context value the platform cannot use. */
export class ConfigError extends Error {
  constructor(key: string, problem: string) {
    super(`context "${key}": ${problem}`);
    this.name = 'ConfigError';
  }
}

function positiveNumber(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(key, `must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function flag(key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new ConfigError(key, `must be true or false, got ${JSON.stringify(value)}`);
}

function pastDate(key: string, value: unknown, today: Date): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const date = new Date(`${text}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== text) {
    throw new ConfigError(key, `must be a date as YYYY-MM-DD, got ${JSON.stringify(value)}`);
  }
  const day = today.toISOString().slice(0, 10);
  if (text > day) throw new ConfigError(key, `is ${text}, after today (${day} UTC): the lake cannot have started yet`);
  return text;
}

function idList(key: string, value: unknown, fallback: readonly string[] | undefined): readonly string[] | undefined {
  if (value === undefined) return fallback;
  const ids = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
  if (!ids || !ids.every((id) => typeof id === 'string')) throw new ConfigError(key, `must be a list of ids or a comma-separated text, got ${JSON.stringify(value)}`);
  return ids.map((id: string) => id.trim()).filter((id) => id !== '');
}

/** Reads the platform's settings from context; fails fast on a bad value. `today` is the synth's date. */
export function readConfig(node: Node, today: Date = new Date()): PlatformConfig {
  const get = (key: string): unknown => node.tryGetContext(key);
  const envName = get('envName') ?? CONFIG_DEFAULTS.envName;
  if (typeof envName !== 'string' || !/^[a-z][a-z0-9-]{0,15}$/.test(envName)) {
    throw new ConfigError('envName', `must be 1 to 16 of a-z 0-9 - starting with a letter, got ${JSON.stringify(envName)}`);
  }
  const rate = positiveNumber('quarantineRateThreshold', get('quarantineRateThreshold'), CONFIG_DEFAULTS.quarantineRateThreshold);
  if (rate > 1) throw new ConfigError('quarantineRateThreshold', 'is a share: between 0 and 1');
  return {
    envName,
    bytesScannedCutoffMb: positiveNumber('bytesScannedCutoffMb', get('bytesScannedCutoffMb'), CONFIG_DEFAULTS.bytesScannedCutoffMb),
    destroyData: flag('destroyData', get('destroyData'), CONFIG_DEFAULTS.destroyData),
    queryResultsDays: positiveNumber('queryResultsDays', get('queryResultsDays'), CONFIG_DEFAULTS.queryResultsDays),
    freshnessIntervals: positiveNumber('freshnessIntervals', get('freshnessIntervals'), CONFIG_DEFAULTS.freshnessIntervals),
    quarantineRateThreshold: rate,
    lakeFormationTags: flag('lakeFormationTags', get('lakeFormationTags'), CONFIG_DEFAULTS.lakeFormationTags),
    lakeStart: pastDate('lakeStart', get('lakeStart'), today),
    pullSources: idList('pullSources', get('pullSources'), CONFIG_DEFAULTS.pullSources),
  };
}
