import { z } from 'zod';
import { COMPACTION_DEFAULTS, type CompactionPolicy } from '../core/compaction.ts';
import { TRANSFORM_DEFAULTS } from '../core/reading.ts';

/** The compaction function's settings, from its environment. */
export interface CompactionConfig {
  readonly curatedBucket: string;
  readonly duckdbMemoryMb: number;
  readonly policy: CompactionPolicy;
  /** How late a reading may arrive: partitions this old can still receive per-object files. */
  readonly maxLatenessDays: number;
  readonly metricsNamespace: string;
}

/** Environment variable names: the CDK construct sets exactly these. */
export const COMPACTION_ENV = {
  curatedBucket: 'CURATED_BUCKET',
  duckdbMemoryMb: 'DUCKDB_MEMORY_MB',
  settleMinutes: 'SETTLE_MINUTES',
  maxWaitHours: 'MAX_WAIT_HOURS',
  targetFileMb: 'TARGET_FILE_MB',
  maxLatenessDays: 'MAX_LATENESS_DAYS',
  metricsNamespace: 'METRICS_NAMESPACE',
} as const;

const Env = z.object({
  [COMPACTION_ENV.curatedBucket]: z.string().min(1),
  [COMPACTION_ENV.duckdbMemoryMb]: z.coerce.number().int().positive().default(512),
  [COMPACTION_ENV.settleMinutes]: z.coerce.number().int().nonnegative().default(COMPACTION_DEFAULTS.settleMinutes),
  [COMPACTION_ENV.maxWaitHours]: z.coerce.number().int().positive().default(COMPACTION_DEFAULTS.maxWaitHours),
  [COMPACTION_ENV.targetFileMb]: z.coerce.number().int().positive().default(COMPACTION_DEFAULTS.targetFileMb),
  [COMPACTION_ENV.maxLatenessDays]: z.coerce.number().int().positive().default(TRANSFORM_DEFAULTS.maxLatenessDays),
  [COMPACTION_ENV.metricsNamespace]: z.string().min(1).default('Datastroom'),
});

/** Settings missing or malformed in the environment; names each. */
export class CompactionConfigError extends Error {
  constructor(problems: string[]) {
    super(`compaction configuration: ${problems.join('; ')}`);
    this.name = 'CompactionConfigError';
  }
}

/** Reads the configuration once; fails fast, naming every variable that is wrong. */
export function readCompactionConfig(env: NodeJS.ProcessEnv): CompactionConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) throw new CompactionConfigError(parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`));
  const e = parsed.data;
  return {
    curatedBucket: e[COMPACTION_ENV.curatedBucket],
    duckdbMemoryMb: e[COMPACTION_ENV.duckdbMemoryMb],
    policy: {
      ...COMPACTION_DEFAULTS,
      settleMinutes: e[COMPACTION_ENV.settleMinutes],
      maxWaitHours: e[COMPACTION_ENV.maxWaitHours],
      targetFileMb: e[COMPACTION_ENV.targetFileMb],
    },
    maxLatenessDays: e[COMPACTION_ENV.maxLatenessDays],
    metricsNamespace: e[COMPACTION_ENV.metricsNamespace],
  };
}
