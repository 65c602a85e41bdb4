/**
 * The README's deploy section against the code it describes: every context
 * setting with its default, and the after-deploy checks naming things the
 * stack really creates.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUTPUTS_FILE } from '../../cli/stack-outputs.ts';
import { getDataset } from '../../datasets/index.ts';
import { hourlyView } from '../../glue/views.ts';
import { CONFIG_DEFAULTS } from '../../infra/config.ts';
import { alarmNamePrefix, databaseName, STACK_OUTPUTS } from '../../infra/names.ts';
import { platform } from '../helpers/stack.ts';

let deploy = '';
beforeAll(async () => {
  const readme = await readFile(resolve(import.meta.dirname, '../../README.md'), 'utf8');
  deploy = readme.slice(readme.indexOf('## Deploy to AWS'), readme.indexOf('### What it costs'));
  expect(deploy.length).toBeGreaterThan(1000);
});

/** The rows of the context table: key, default, what it does. */
function contextRows(): Map<string, { default: string; does: string }> {
  const table = deploy.slice(deploy.indexOf('| key | default | what it does |'));
  const rows = table.split('\n').slice(2).filter((line) => line.startsWith('| `'));
  return new Map(
    rows.map((row) => {
      const [key = '', value = '', does = ''] = row.split(' | ').map((cell) => cell.replace(/^\| /, '').replace(/ \|$/, ''));
      return [key.replace(/`/g, ''), { default: value, does }];
    }),
  );
}

describe('the README’s deploy section', () => {
  it('lists every context setting with the default the code applies', () => {
    const rows = contextRows();
    expect([...rows.keys()].sort()).toEqual(Object.keys(CONFIG_DEFAULTS).sort());
    for (const [key, value] of Object.entries(CONFIG_DEFAULTS)) {
      expect({ key, default: rows.get(key)?.default }).toEqual({ key, default: value === undefined ? 'unset' : `\`${String(value)}\`` });
    }
  });

  it('says what lakeFormationTags needs before the first deploy: a principal Lake Formation lets create LF-Tags', () => {
    expect(contextRows().get('lakeFormationTags')?.does).toMatch(/data lake administrator or an LF-Tag creator: make the CDK's CloudFormation execution role/);
  });

  it('checks after the first deploy what only an account shows, on names the stack creates', () => {
    const block = /What only a real account can show[\s\S]*?```sh\n([\s\S]*?)```/.exec(deploy)?.[1] ?? '';
    const view = hourlyView(getDataset('air_quality'))!.name;
    expect(block).toContain(`aws glue get-table --database-name ${databaseName('prod')} --name ${view} --query 'Table.StorageDescriptor.SerdeInfo'`);
    const alarm = /aws cloudwatch set-alarm-state --alarm-name (\S+) --state-value ALARM/.exec(block)?.[1];
    expect(alarm?.startsWith(alarmNamePrefix('prod'))).toBe(true);
    const { template } = platform({ config: { envName: 'prod' } });
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => (a.Properties as { AlarmName: string }).AlarmName)).toContain(alarm);
    expect(template.toJSON().Outputs).toHaveProperty([STACK_OUTPUTS.alarmTopic]);
  });

  it('deploys the first time with the lake’s start date and the outputs file the CLI reads', () => {
    expect(deploy).toContain(`npx cdk deploy -c envName=prod -c lakeStart=$(date -u +%F) --outputs-file ${DEFAULT_OUTPUTS_FILE}`);
  });
});
