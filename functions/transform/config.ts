import { z } from 'zod';
import { TRANSFORM_DEFAULTS, type TransformPolicy } from '../core/reading.ts';

/** The transform function's settings, from its environment. */
export interface TransformConfig {
  readonly rawBucket: string;
  readonly curatedBucket: string;
  readonly pseudonymSecretArn: string;
  readonly duckdbMemoryMb: number;
  /** What one transform may hold in all: most of the function's memory (Lambda sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE). */
  readonly memoryBudgetMb: number | undefined;
  readonly policy: TransformPolicy;
  readonly metricsNamespace: string;
}

/** Environment variable names: the CDK construct sets exactly these. */
export const TRANSFORM_ENV = {
  rawBucket: 'RAW_BUCKET',
  curatedBucket: 'CURATED_BUCKET',
  pseudonymSecretArn: 'PSEUDONYM_SECRET_ARN',
  duckdbMemoryMb: 'DUCKDB_MEMORY_MB',
  futureToleranceSeconds: 'FUTURE_TOLERANCE_S',
  maxLatenessDays: 'MAX_LATENESS_DAYS',
  metricsNamespace: 'METRICS_NAMESPACE',
} as const;

const Env = z.object({
  [TRANSFORM_ENV.rawBucket]: z.string().min(1),
  [TRANSFORM_ENV.curatedBucket]: z.string().min(1),
  [TRANSFORM_ENV.pseudonymSecretArn]: z.string().min(1),
  [TRANSFORM_ENV.duckdbMemoryMb]: z.coerce.number().int().positive().default(512),
  [TRANSFORM_ENV.futureToleranceSeconds]: z.coerce.number().int().nonnegative().default(TRANSFORM_DEFAULTS.futureToleranceSeconds),
  [TRANSFORM_ENV.maxLatenessDays]: z.coerce.number().int().positive().default(TRANSFORM_DEFAULTS.maxLatenessDays),
  [TRANSFORM_ENV.metricsNamespace]: z.string().min(1).default('Datastroom'),
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: z.coerce.number().int().positive().optional(),
});

/** Share of the function's memory one transform may hold; the rest is the runtime's and the SDK's. */
const BUDGET_SHARE = 0.85;

/** Settings missing or malformed in the environment; names each. */
export class TransformConfigError extends Error {
  constructor(problems: string[]) {
    super(`transform configuration: ${problems.join('; ')}`);
    this.name = 'TransformConfigError';
  }
}

/** Reads the configuration once; fails fast, naming every variable that is wrong. */
export function readTransformConfig(env: NodeJS.ProcessEnv): TransformConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new TransformConfigError(parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`));
  }
  const e = parsed.data;
  return {
    rawBucket: e[TRANSFORM_ENV.rawBucket],
    curatedBucket: e[TRANSFORM_ENV.curatedBucket],
    pseudonymSecretArn: e[TRANSFORM_ENV.pseudonymSecretArn],
    duckdbMemoryMb: e[TRANSFORM_ENV.duckdbMemoryMb],
    memoryBudgetMb: e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE === undefined ? undefined : Math.floor(e.AWS_LAMBDA_FUNCTION_MEMORY_SIZE * BUDGET_SHARE),
    policy: { futureToleranceSeconds: e[TRANSFORM_ENV.futureToleranceSeconds], maxLatenessDays: e[TRANSFORM_ENV.maxLatenessDays] },
    metricsNamespace: e[TRANSFORM_ENV.metricsNamespace],
  };
}
