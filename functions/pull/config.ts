/** Environment variable names of the pull function: the CDK construct sets exactly these. */
export const PULL_ENV = { envName: 'ENV_NAME', stateBucket: 'STATE_BUCKET' } as const;

/** Where a pull source's cursor is kept in the state bucket (the raw bucket, outside every dataset's prefix). */
export function pullCursorKey(sourceId: string): string {
  return `${PULL_STATE_PREFIX}${sourceId}.json`;
}

/** Prefix of the pull sources' cursors: outside raw/, so no transform is ever started by one. */
export const PULL_STATE_PREFIX = '_state/pull/';
