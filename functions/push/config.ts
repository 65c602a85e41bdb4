/** Environment variable names of the HTTP push function: the CDK construct sets exactly these. */
export const PUSH_ENV = { envName: 'ENV_NAME' } as const;
