import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { registerHtml, registerMarkdown, type RegisterOptions } from '../../publish/register.ts';
import { parse, UsageError } from '../args.ts';

export const GOVERNANCE_USAGE = `Usage: datastroom governance --output DIR [--env NAME] [--region R] [--controller NAME]

Writes the register of processing activities (GDPR art. 30) for the data
protection officer, as DIR/governance.md and DIR/governance.html: per
dataset its purpose, legal basis, categories of personal data and their
pseudonymisation, retention per zone, who may read it (the access policies
by classification), where it is stored and how it is secured. It is
generated from the dataset registry and the stack's configuration; npm run
docs keeps docs/governance.md current.

  --output DIR        where to write governance.md and governance.html
  --env NAME          the environment the stack is deployed as (default: a {env} placeholder)
  --region R          the AWS region it is deployed to (default: a {region} placeholder)
  --controller NAME   the controller, e.g. "Stad Gent" (default: a {the city} placeholder)`;

const OPTIONS = {
  output: { type: 'string' },
  env: { type: 'string' },
  region: { type: 'string' },
  controller: { type: 'string' },
} as const;

/** Writes a file whole: a reader never sees half of it. */
async function writeWhole(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.partial`;
  await writeFile(temporary, text);
  await rename(temporary, file);
}

/** `datastroom governance --output DIR`: returns the exit status. */
export async function governanceCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, OPTIONS, false);
  if (values.help) {
    process.stdout.write(`${GOVERNANCE_USAGE}\n`);
    return 0;
  }
  if (values.output === undefined || values.output.trim() === '') throw new UsageError(`governance needs --output DIR, where to write the register\n\n${GOVERNANCE_USAGE}`);
  if (values.env !== undefined && !/^[a-z][a-z0-9-]{0,15}$/.test(values.env)) throw new UsageError(`--env must be 1 to 16 of a-z 0-9 - starting with a letter, as the stack's envName, got "${values.env}"`);
  if (values.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(values.region)) throw new UsageError(`--region must be an AWS region such as eu-west-1, got "${values.region}"`);
  const options: RegisterOptions = { envName: values.env, region: values.region, controller: values.controller };
  const dir = resolve(values.output);
  await mkdir(dir, { recursive: true });
  const md = join(dir, 'governance.md');
  const page = join(dir, 'governance.html');
  await writeWhole(md, registerMarkdown(options));
  await writeWhole(page, registerHtml(options));
  process.stdout.write(`wrote the register of processing activities: ${md} and ${page}\n`);
  return 0;
}
