import { z } from 'zod';
import { PORTAL_DEFAULTS } from '../../publish/defaults.ts';

/** The publishing function's settings, from its environment. */
export interface PublishingConfig {
  readonly curatedBucket: string;
  readonly portalBucket: string;
  /** Where the portal is served (the distribution's https URL), ending in a slash. */
  readonly baseUrl: string;
  readonly publisher: string;
  readonly contactEmail: string;
  readonly duckdbMemoryMb: number;
}

/** Environment variable names: the CDK construct sets exactly these. */
export const PUBLISHING_ENV = {
  curatedBucket: 'CURATED_BUCKET',
  portalBucket: 'PORTAL_BUCKET',
  baseUrl: 'PORTAL_BASE_URL',
  publisher: 'PORTAL_PUBLISHER',
  contactEmail: 'PORTAL_CONTACT_EMAIL',
  duckdbMemoryMb: 'DUCKDB_MEMORY_MB',
} as const;

const Env = z.object({
  [PUBLISHING_ENV.curatedBucket]: z.string().min(1),
  [PUBLISHING_ENV.portalBucket]: z.string().min(1),
  [PUBLISHING_ENV.baseUrl]: z.url({ protocol: /^https$/ }),
  [PUBLISHING_ENV.publisher]: z.string().min(1).default(PORTAL_DEFAULTS.publisher),
  [PUBLISHING_ENV.contactEmail]: z.email().default(PORTAL_DEFAULTS.contactEmail),
  [PUBLISHING_ENV.duckdbMemoryMb]: z.coerce.number().int().positive().default(512),
});

/** Settings missing or malformed in the environment; names each. */
export class PublishingConfigError extends Error {
  constructor(problems: string[]) {
    super(`publishing configuration: ${problems.join('; ')}`);
    this.name = 'PublishingConfigError';
  }
}

/** Reads the configuration once; fails fast, naming every variable that is wrong. */
export function readPublishingConfig(env: NodeJS.ProcessEnv): PublishingConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) throw new PublishingConfigError(parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`));
  const e = parsed.data;
  const base = e[PUBLISHING_ENV.baseUrl];
  return {
    curatedBucket: e[PUBLISHING_ENV.curatedBucket],
    portalBucket: e[PUBLISHING_ENV.portalBucket],
    baseUrl: base.endsWith('/') ? base : `${base}/`,
    publisher: e[PUBLISHING_ENV.publisher],
    contactEmail: e[PUBLISHING_ENV.contactEmail],
    duckdbMemoryMb: e[PUBLISHING_ENV.duckdbMemoryMb],
  };
}
