/**
 * The sensor and query commands against AWS, with the SDK mocked at the
 * client level, and the local sensor commands for real.
 */
import { stat, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DescribeEndpointCommand,
  IoTClient,
  ListThingsCommand,
} from '@aws-sdk/client-iot';
import { AthenaClient, GetQueryExecutionCommand, GetQueryResultsCommand, GetWorkGroupCommand, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { sensorsCommand } from '../../cli/commands/sensors.ts';
import { queryCommand } from '../../cli/commands/query.ts';
import { schemaCommand } from '../../cli/commands/schema.ts';
import { CLASSIFICATIONS, SCHEMA_DIR } from '../../datasets/index.ts';
import { STACK_OUTPUTS, WORKGROUP_ROLES, workgroupName, workgroupOutputKey } from '../../infra/names.ts';
import { tempDir } from '../helpers/fixtures.ts';

const iot = mockClient(IoTClient);
const athena = mockClient(AthenaClient);
const BIN = resolve(import.meta.dirname, '../../bin/datastroom.mjs');
const run = promisify(execFile);

let out: string[];
let err: string[];
beforeEach(() => {
  iot.reset();
  athena.reset();
  out = [];
  err = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
});
afterEach(() => vi.restoreAllMocks());
afterAll(() => {
  iot.restore();
  athena.restore();
});

async function outputsFile(): Promise<string> {
  const dir = await tempDir();
  const file = join(dir, 'cdk-outputs.json');
  await writeFile(
    file,
    JSON.stringify({
      'Datastroom-prod': {
        [STACK_OUTPUTS.envName]: 'prod',
        [STACK_OUTPUTS.rawBucket]: 'datastroom-prod-raw-111122223333-eu-west-1',
        [STACK_OUTPUTS.curatedBucket]: 'datastroom-prod-curated-111122223333-eu-west-1',
        [STACK_OUTPUTS.resultsBucket]: 'datastroom-prod-results-111122223333-eu-west-1',
        [STACK_OUTPUTS.database]: 'datastroom_prod',
        ...Object.fromEntries(WORKGROUP_ROLES.flatMap((role) => CLASSIFICATIONS.map((tier) => [workgroupOutputKey(role, tier), workgroupName('prod', role, tier)]))),
      },
      CDKToolkit: {},
    }),
  );
  return file;
}

const client = () => new IoTClient({ region: 'eu-west-1' });

describe('datastroom sensors register (AWS)', () => {
  it('registers the thing under the names the stack outputs give, and writes credentials readable by the owner only', async () => {
    iot.on(CreateThingCommand).resolves({ thingName: 'aq-7', thingArn: 'arn:aws:iot:eu-west-1:111122223333:thing/aq-7' });
    iot.on(CreateKeysAndCertificateCommand).resolves({ certificateArn: 'arn:aws:iot:eu-west-1:111122223333:cert/c0ffee', certificateId: 'c0ffee', certificatePem: 'CERT', keyPair: { PrivateKey: 'SECRET-KEY' } });
    iot.on(AttachPolicyCommand).resolves({});
    iot.on(AttachThingPrincipalCommand).resolves({});
    iot.on(DescribeEndpointCommand).resolves({ endpointAddress: 'a1b2-ats.iot.eu-west-1.amazonaws.com' });
    const dataDir = await tempDir();
    const code = await sensorsCommand(['register', 'air_quality', 'aq-7', '--outputs', await outputsFile(), '--data-dir', dataDir], client);
    expect(code).toBe(0);
    expect(iot.commandCalls(CreateThingCommand)[0]!.args[0].input.thingTypeName).toBe('datastroom-prod-air_quality');
    expect(iot.commandCalls(AttachPolicyCommand)[0]!.args[0].input.policyName).toBe('datastroom-prod-air_quality-device');
    const dir = join(dataDir, 'devices', 'aq-7');
    expect(await readFile(join(dir, 'private.pem.key'), 'utf8')).toBe('SECRET-KEY');
    for (const f of ['private.pem.key', 'certificate.pem.crt', 'connection.json']) expect((await stat(join(dir, f))).mode & 0o777, f).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    // Basic Ingest to the dataset's rule is the topic to use; the broker's topic is the alternative.
    expect(JSON.parse(await readFile(join(dir, 'connection.json'), 'utf8'))).toMatchObject({
      endpoint: 'a1b2-ats.iot.eu-west-1.amazonaws.com',
      topic: '$aws/rules/datastroom_prod_air_quality/datastroom/air_quality/aq-7',
      brokerTopic: 'datastroom/air_quality/aq-7',
      clientId: 'aq-7',
    });
    const printed = out.join('');
    expect(printed).toContain('topic: $aws/rules/datastroom_prod_air_quality/datastroom/air_quality/aq-7\n');
    expect(printed).toContain('datastroom/air_quality/aq-7 works too, through the message broker');
    expect(printed).toMatch(/mosquitto_pub -h a1b2-ats\.iot\.eu-west-1\.amazonaws\.com -p 8883 .* -i aq-7 -q 1 -t '\$aws\/rules\/datastroom_prod_air_quality\/datastroom\/air_quality\/aq-7' -m '\{"ts":/);
  });

  it.each([
    [['register', 'air_quality', 'bad id'], /sensor id "bad id" is not a valid thing name/],
    [['register', 'air_quality', '../etc'], /sensor id "\.\.\/etc" is not a valid thing name/],
    [['register', 'air-quality', 'aq-1'], /unknown dataset "air-quality"/],
    [['revoke', 'air_quality', 'a/b'], /is not a valid thing name/],
  ])('refuses %j before any AWS call', async (argv, message) => {
    await expect(sensorsCommand([...argv, '--outputs', '/nonexistent/outputs.json'], client)).rejects.toThrow(message);
    expect(iot.calls()).toHaveLength(0);
  });

  it('says how to get the stack outputs when there are none', async () => {
    const dir = await tempDir();
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await expect(sensorsCommand(['register', 'noise', 'nz-1'], client)).rejects.toThrow(/npx cdk deploy --outputs-file cdk-outputs.json/);
    } finally {
      process.chdir(cwd);
    }
  });

  it('lists the sensors of a dataset', async () => {
    iot.on(ListThingsCommand).resolves({ things: [{ thingName: 'nz-1', thingArn: 'arn' }] });
    await sensorsCommand(['list', 'noise', '--json', '--outputs', await outputsFile()], client);
    expect(JSON.parse(out.join(''))).toEqual([{ dataset: 'noise', sensor: 'nz-1', topic: 'datastroom/noise/nz-1' }]);
    expect(iot.commandCalls(ListThingsCommand)[0]!.args[0].input.thingTypeName).toBe('datastroom-prod-noise');
  });
});

describe('datastroom query --engine athena', () => {
  /** Athena as IAM answers a caller whose read policy grants the workgroups of `tier` only. */
  const grantedTier = (tier: string) =>
    athena.on(GetWorkGroupCommand).callsFake((input: { WorkGroup?: string }) => {
      if (input.WorkGroup?.endsWith(`-${tier}`)) return { WorkGroup: { Name: input.WorkGroup } };
      throw Object.assign(new Error(`not authorized to perform: athena:GetWorkGroup on ${input.WorkGroup}`), { name: 'AccessDeniedException' });
    });

  it('runs in the analysts workgroup of the caller’s tier on the stack’s database, prints rows, then the scan and its cost', async () => {
    grantedTier('shared');
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-9' });
    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'SUCCEEDED' }, Statistics: { DataScannedInBytes: 3 * 1024 * 1024 } } });
    athena.on(GetQueryResultsCommand).resolves({
      ResultSet: {
        ResultSetMetadata: { ColumnInfo: [{ Name: 'n', Label: 'n', Type: 'bigint' }] },
        Rows: [{ Data: [{ VarCharValue: 'n' }] }, { Data: [{ VarCharValue: '42' }] }],
      },
    });
    const code = await queryCommand(['select count(*) as n from air_quality', '--engine', 'athena', '--format', 'csv', '--outputs', await outputsFile()], () => new AthenaClient({ region: 'eu-west-1' }));
    expect(code).toBe(0);
    // The most closed tier first: closed is refused, shared is the caller's.
    expect(athena.commandCalls(GetWorkGroupCommand).map((c) => c.args[0].input.WorkGroup)).toEqual(['datastroom-prod-analysts-closed', 'datastroom-prod-analysts-shared']);
    expect(athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input).toMatchObject({ WorkGroup: 'datastroom-prod-analysts-shared', QueryExecutionContext: { Database: 'datastroom_prod' } });
    expect(out.join('')).toBe('n\n42\n');
    expect(err.join('')).toMatch(/scanned 3\.0 MB, cost \$0\.000048 at \$5 per TB \(10 MB minimum\); query q-9 in workgroup datastroom-prod-analysts-shared/);
  });

  it('uses the BI workgroup of the tier asked for, without asking Athena which it may use', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-10' });
    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'FAILED', StateChangeReason: 'Query exhausted resources' } } });
    await expect(
      queryCommand(['select 1', '--engine', 'athena', '--workgroup', 'bi', '--tier', 'open', '--outputs', await outputsFile()], () => new AthenaClient({ region: 'eu-west-1' })),
    ).rejects.toThrow(/Athena query q-10 failed: Query exhausted resources/);
    expect(athena.commandCalls(GetWorkGroupCommand)).toHaveLength(0);
    expect(athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input.WorkGroup).toBe('datastroom-prod-bi-open');
  });

  it('takes a workgroup by its purpose and tier', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-11' });
    athena.on(GetQueryExecutionCommand).resolves({ QueryExecution: { Status: { State: 'FAILED', StateChangeReason: 'stop here' } } });
    await expect(queryCommand(['select 1', '--engine', 'athena', '--workgroup', 'bi-closed', '--outputs', await outputsFile()], () => new AthenaClient({ region: 'eu-west-1' }))).rejects.toThrow(/stop here/);
    expect(athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input.WorkGroup).toBe('datastroom-prod-bi-closed');
  });

  it('refuses, naming the read policies, when the caller may use no workgroup of the purpose, and starts nothing', async () => {
    grantedTier('nobody');
    await expect(queryCommand(['select 1', '--engine', 'athena', '--outputs', await outputsFile()], () => new AthenaClient({ region: 'eu-west-1' }))).rejects.toThrow(
      'you may use none of the analysts workgroups (datastroom-prod-analysts-closed, datastroom-prod-analysts-shared, datastroom-prod-analysts-open): query with a role holding one of the datastroom-prod-read-open, datastroom-prod-read-shared, datastroom-prod-read-closed policies',
    );
    expect(athena.commandCalls(GetWorkGroupCommand)).toHaveLength(3);
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
  });

  it('refuses --tier beside a workgroup that names its tier already', async () => {
    await expect(
      queryCommand(['select 1', '--engine', 'athena', '--workgroup', 'analysts-open', '--tier', 'closed', '--outputs', await outputsFile()], () => new AthenaClient({ region: 'eu-west-1' })),
    ).rejects.toThrow('--tier goes with a purpose (--workgroup analysts or bi), not with --workgroup analysts-open, which names its tier already');
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
  });

  it('refuses an unknown tier', async () => {
    await expect(queryCommand(['select 1', '--engine', 'athena', '--tier', 'secret', '--outputs', await outputsFile()], () => new AthenaClient({ region: 'eu-west-1' }))).rejects.toThrow(
      '--tier must be one of open, shared, closed, got "secret"',
    );
  });

  it('passes on an error other than a refusal while looking for a usable workgroup', async () => {
    athena.on(GetWorkGroupCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    await expect(queryCommand(['select 1', '--engine', 'athena', '--outputs', await outputsFile()], () => new AthenaClient({ region: 'eu-west-1' }))).rejects.toThrow('Rate exceeded');
    expect(athena.commandCalls(StartQueryExecutionCommand)).toHaveLength(0);
  });
});

describe('datastroom schema', () => {
  it('prints a dataset’s reading schema for vendors, with the topic and governance facts', async () => {
    await schemaCommand(['anpr_passage']);
    const schema = JSON.parse(out.join(''));
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      required: ['ts', 'direction', 'lane', 'plate', 'confidence'],
      'x-datastroom': { topic: 'datastroom/anpr_passage/<sensorId>', classification: 'closed', personalData: ['plate'] },
    });
    expect(schema.properties.confidence).toMatchObject({ type: 'number', minimum: 0, maximum: 1, unit: 'ratio' });
  });

  it('is published in the repository as the registry has it (npm run docs refreshes it)', async () => {
    await expect(schemaCommand(['--check', resolve(import.meta.dirname, '../..', SCHEMA_DIR)])).resolves.toBe(0);
  });
});

describe('datastroom sensors --local', () => {
  it('registers, lists and revokes a local device, credentials readable by the owner only', async () => {
    vi.restoreAllMocks();
    const dataDir = await tempDir();
    const register = await run(process.execPath, [BIN, 'sensors', 'register', 'water_level', 'wl-9', '--local', '--port', '18999', '--data-dir', dataDir]);
    expect(register.stdout).toMatch(/mosquitto_pub -h 127\.0\.0\.1 -p 18999 -i wl-9 -u wl-9 -P '[A-Za-z0-9_-]+' -q 1 -t datastroom\/water_level\/wl-9/);
    const credentials = join(dataDir, 'devices', 'wl-9', 'credentials.json');
    expect((await stat(credentials)).mode & 0o777).toBe(0o600);
    const password = JSON.parse(await readFile(credentials, 'utf8')).password as string;
    expect(await readFile(join(dataDir, 'state', 'devices.json'), 'utf8')).not.toContain(password);
    const list = await run(process.execPath, [BIN, 'sensors', 'list', '--local', '--json', '--data-dir', dataDir]);
    expect(JSON.parse(list.stdout)).toEqual([{ dataset: 'water_level', sensor: 'wl-9', topic: 'datastroom/water_level/wl-9' }]);
    await run(process.execPath, [BIN, 'sensors', 'revoke', 'water_level', 'wl-9', '--local', '--data-dir', dataDir]);
    const after = await run(process.execPath, [BIN, 'sensors', 'list', '--local', '--json', '--data-dir', dataDir]);
    expect(JSON.parse(after.stdout)).toEqual([]);
  });
});
