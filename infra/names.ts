/**
 * Names the deployed platform uses, derived from the environment name and the
 * registry. The CDK constructs create resources under these names and the CLI
 * finds them by them; nothing here imports aws-cdk-lib, so the CLI stays light.
 */
import type { Classification, Dataset } from '../datasets/index.ts';

/** Name of a dataset's IoT thing type: its devices are things of this type. */
export function thingTypeName(envName: string, dataset: Dataset): string {
  return `datastroom-${envName}-${dataset.id}`;
}

/** Name of a dataset's IoT device policy. */
export function devicePolicyName(envName: string, dataset: Dataset): string {
  return `datastroom-${envName}-${dataset.id}-device`;
}

/** Name of a dataset's IoT thing type for integrations (gateways publishing for the sensors behind them). */
export function integrationThingTypeName(envName: string, dataset: Dataset): string {
  return `datastroom-${envName}-${dataset.id}-integrations`;
}

/** Name of a dataset's IoT integration policy. */
export function integrationPolicyName(envName: string, dataset: Dataset): string {
  return `datastroom-${envName}-${dataset.id}-integration`;
}

/** The Glue database of an environment (Glue and Athena want lower case and underscores). */
export function databaseName(envName: string): string {
  return `datastroom_${envName.replace(/-/g, '_')}`;
}

/** Name of the managed policy that lets its holders query the datasets of a classification tier. */
export function readPolicyName(envName: string, tier: string): string {
  return `datastroom-${envName}-read-${tier}`;
}

/** Who runs queries: analysts in SQL, BI tools through ODBC/JDBC. */
export const WORKGROUP_ROLES = ['analysts', 'bi'] as const;
export type WorkgroupRole = (typeof WORKGROUP_ROLES)[number];

/** Short name of the workgroup where one purpose's readers of one classification tier query (`analysts-closed`). */
export function workgroupKey(role: WorkgroupRole, tier: Classification): string {
  return `${role}-${tier}`;
}

/** Name of an Athena workgroup: one per purpose and classification tier, so no tier shares results or history with another. */
export function workgroupName(envName: string, role: WorkgroupRole, tier: Classification): string {
  return `datastroom-${envName}-${workgroupKey(role, tier)}`;
}

/** Prefix of the results bucket where a workgroup's results land; only its tier's read policy grants it. */
export function workgroupResultsPrefix(role: WorkgroupRole, tier: Classification): string {
  return `${workgroupKey(role, tier)}/`;
}

const capitalised = (word: string) => `${word.charAt(0).toUpperCase()}${word.slice(1)}`;

/** Key of the stack output naming a workgroup (`WorkgroupAnalystsClosed`). */
export function workgroupOutputKey(role: WorkgroupRole, tier: Classification): string {
  return `Workgroup${capitalised(role)}${capitalised(tier)}`;
}

/** Alias of the platform's KMS key. */
export function keyAliasName(envName: string): string {
  return `alias/datastroom-${envName}`;
}

/** Prefix of every log group of an environment; the key policy lets CloudWatch Logs use the key for these only. */
export function logGroupPrefix(envName: string): string {
  return `/datastroom/${envName}/`;
}

/** Prefix of every alarm of an environment; the key policy lets CloudWatch alarms publish for these only. */
export function alarmNamePrefix(envName: string): string {
  return `datastroom-${envName}-`;
}

/** Keys of the stack outputs the CLI reads (from `cdk deploy --outputs-file`, or CloudFormation). */
export const STACK_OUTPUTS = {
  envName: 'EnvironmentName',
  rawBucket: 'RawBucket',
  curatedBucket: 'CuratedBucket',
  resultsBucket: 'QueryResultsBucket',
  database: 'GlueDatabase',
  alarmTopic: 'AlarmTopic',
  portalUrl: 'PortalUrl',
  portalBucket: 'PortalBucket',
  pushEndpoint: 'PushEndpoint',
} as const;

/** Name of the stack of an environment. */
export function stackName(envName: string): string {
  return `Datastroom-${envName}`;
}
