import { readFile } from 'node:fs/promises';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CLASSIFICATIONS } from '../datasets/index.ts';
import { STACK_OUTPUTS, WORKGROUP_ROLES, workgroupKey, workgroupOutputKey } from '../infra/names.ts';
import { UsageError } from './args.ts';

/** Where the deployed platform's names are read from, never retyped. */
export const DEFAULT_OUTPUTS_FILE = 'cdk-outputs.json';

/** The deployed platform, as its stack outputs name it. */
export interface PlatformOutputs {
  readonly stackName: string;
  readonly envName: string;
  readonly rawBucket: string;
  readonly curatedBucket: string;
  readonly resultsBucket: string;
  readonly database: string;
  /** Athena workgroup names by their short name (`analysts-closed`): one per purpose and classification tier. */
  readonly workgroups: ReadonlyMap<string, string>;
}

function fromOutputs(stackName: string, outputs: Record<string, string>): PlatformOutputs {
  const get = (key: string) => {
    const v = outputs[key];
    if (typeof v !== 'string' || v === '') throw new UsageError(`stack ${stackName} has no output ${key}: is it a Datastroom stack, deployed from this version?`);
    return v;
  };
  return {
    stackName,
    envName: get(STACK_OUTPUTS.envName),
    rawBucket: get(STACK_OUTPUTS.rawBucket),
    curatedBucket: get(STACK_OUTPUTS.curatedBucket),
    resultsBucket: get(STACK_OUTPUTS.resultsBucket),
    database: get(STACK_OUTPUTS.database),
    workgroups: new Map(WORKGROUP_ROLES.flatMap((role) => CLASSIFICATIONS.map((tier) => [workgroupKey(role, tier), get(workgroupOutputKey(role, tier))] as const))),
  };
}

/**
 * The deployed platform's names: from the file `cdk deploy --outputs-file`
 * wrote, or, with a stack name and no file, from CloudFormation.
 */
export async function readPlatformOutputs(options: { file?: string; stack?: string; cloudformation?: CloudFormationClient }): Promise<PlatformOutputs> {
  const file = options.file ?? DEFAULT_OUTPUTS_FILE;
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || options.file !== undefined) throw error;
  }
  if (text !== undefined) {
    const all = JSON.parse(text) as Record<string, Record<string, string>>;
    const candidates = Object.keys(all).filter((name) => (options.stack ? name === options.stack : name.startsWith('Datastroom-')));
    if (candidates.length !== 1) {
      throw new UsageError(
        candidates.length === 0
          ? `${file} holds no ${options.stack ?? 'Datastroom'} stack (it has: ${Object.keys(all).length > 0 ? Object.keys(all).join(', ') : 'nothing'})`
          : `${file} holds several Datastroom stacks (${candidates.join(', ')}): choose one with --stack`,
      );
    }
    const name = candidates[0] as string;
    return fromOutputs(name, all[name] ?? {});
  }
  if (!options.stack) {
    throw new UsageError(`no ${file}: deploy with "npx cdk deploy --outputs-file ${DEFAULT_OUTPUTS_FILE}", or name the stack with --stack`);
  }
  const cloudformation = options.cloudformation ?? new CloudFormationClient({});
  const { Stacks } = await cloudformation.send(new DescribeStacksCommand({ StackName: options.stack }));
  const outputs = Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  return fromOutputs(options.stack, outputs);
}
