/**
 * The platform rehearsed against moto_server, the AWS emulator: the real
 * stack synthesized with its Lambda bundled, and what the cloud data path
 * and the datastroom command use created in moto from the template's
 * properties (see moto/deploy.ts). Then, as on AWS: records shaped as the
 * topic rule emits them put through Firehose into the raw bucket; S3's
 * object-created events routed by the template's rule into the template's
 * queue; the bundled transform invoked on what the queue holds; curated
 * Parquet and quarantine read back from the bucket; and `sensors register |
 * list | revoke` and `query --engine athena` run as child processes whose
 * AWS SDK talks to moto, with IoT Core's asynchronous detach played by a
 * proxy in front of it. One moto and one synth serve every test here.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetQueryExecutionCommand } from '@aws-sdk/client-athena';
import { DescribeDeliveryStreamCommand } from '@aws-sdk/client-firehose';
import {
  DescribeCertificateCommand,
  DescribeThingCommand,
  ListAttachedPoliciesCommand,
  ListCertificatesCommand,
  ListPrincipalThingsCommand,
} from '@aws-sdk/client-iot';
import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketLoggingCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { parquetReadObjects } from 'hyparquet';
import { z } from 'zod';
import { getDataset, type Dataset } from '../../datasets/index.ts';
import { messageIdFor, topicFor } from '../../functions/core/envelope.ts';
import { parseRawKey, quarantineKey as quarantineKeyOf, zonePrefix } from '../../functions/core/keys.ts';
import { pseudonym } from '../../functions/core/pseudonymise.ts';
import { placeKey } from '../../functions/core/places.ts';
import { TRANSFORM_ENV } from '../../functions/transform/config.ts';
import { RAW_NONCURRENT_DAYS, rawExpirationDays } from '../../infra/constructs/lake-storage.ts';
import { STACK_OUTPUTS, workgroupOutputKey } from '../../infra/names.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { startMoto, type MotoServer } from '../helpers/moto.ts';
import { deployRehearsal, rehearsalClients, type Rehearsal, type RehearsalClients } from './moto/deploy.ts';
import { bridgeDeliveries, putRecordBatch, REHEARSED_RULE_COLUMNS, ruleColumns, ruleRecord, type BridgedObject, type Publication } from './moto/firehose.ts';
import { startAsyncDetachProxy, type AsyncDetachProxy } from './moto/iot-detach-proxy.ts';
import { deleteMessages, invokeBundled, receiveAll, sqsEvent } from './moto/lambda.ts';
import { bucketOf, datasetDeliveryStream, datasetResourceProperty, platformKeyArn, streamTopicRule, transformFunction } from './moto/platform.ts';
import { outputRef, resourcesOfType, synthPlatform } from './moto/template.ts';

const BIN = resolve(import.meta.dirname, '../../bin/datastroom.mjs');
const air = getDataset('air_quality');
const anpr = getDataset('anpr_passage');
const noise = getDataset('noise');

let moto: MotoServer;
let proxy: AsyncDetachProxy;
let clients: RehearsalClients;
let rehearsal: Rehearsal;
/** The directory the commands run in: cdk-outputs.json and the default data dir are there. */
let cwd: string;

beforeAll(async () => {
  moto = await startMoto();
  clients = rehearsalClients(moto);
  const platform = await synthPlatform({ bundle: true });
  rehearsal = await deployRehearsal(platform, clients).catch((error: unknown) => {
    // A moto error answers 500 with no detail: its traceback is in its own output.
    throw new Error(`${error instanceof Error ? error.message : String(error)}\nmoto_server printed:\n${moto.log().slice(-4000)}`, { cause: error });
  });
  cwd = await tempDir('datastroom-cli-', 'file');
  // What `cdk deploy --outputs-file cdk-outputs.json` writes: the outputs by stack.
  await writeFile(join(cwd, 'cdk-outputs.json'), JSON.stringify({ [rehearsal.platform.stackName]: rehearsal.outputs }, null, 2));
  // One detach: the certificate is listed once more, and each delete is refused once.
  proxy = await startAsyncDetachProxy(moto.endpoint, { listings: 1, thingDeletes: 1, certificateDeletes: 1 });
}, 180_000);
afterAll(async () => {
  await proxy?.close();
  await moto?.stop();
});

/** The bytes of an object in the bucket a stack output names. */
async function readObject(output: string, Key: string): Promise<Buffer> {
  const object = await clients.s3.send(new GetObjectCommand({ Bucket: bucketOf(rehearsal, output), Key }));
  return Buffer.from((await object.Body?.transformToByteArray()) ?? []);
}

/** The keys under a prefix in the bucket a stack output names. */
async function listKeys(output: string, Prefix?: string): Promise<string[]> {
  const { Contents } = await clients.s3.send(new ListObjectsV2Command({ Bucket: bucketOf(rehearsal, output), Prefix }));
  return (Contents ?? []).flatMap((c) => (c.Key ? [c.Key] : [])).sort();
}

/** The rows of a Parquet object, as an independent reader sees them. */
async function readParquet(output: string, key: string): Promise<Record<string, unknown>[]> {
  return parquetReadObjects({ file: new Uint8Array(await readObject(output, key)).buffer });
}

/** Runs the datastroom command; its SDK clients reach moto through the proxy. */
function datastroom(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: moto.env({ AWS_ENDPOINT_URL: proxy.endpoint }) }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The body of an SQS message EventBridge delivered for an S3 object. */
const ObjectEvent = z.object({ 'detail-type': z.string(), detail: z.object({ object: z.object({ key: z.string() }) }) });

describe('the rehearsal deploy', () => {
  it('creates the lake buckets with the template’s encryption, versioning, lifecycle, logging and events, as far as moto keeps them', async () => {
    const keyArn = platformKeyArn(rehearsal);
    const logs = z.object({ LoggingConfiguration: z.object({ DestinationBucketName: z.string() }) }).parse(
      rehearsal.properties(outputRef(rehearsal.platform.template, STACK_OUTPUTS.rawBucket)),
    ).LoggingConfiguration.DestinationBucketName;
    for (const output of [STACK_OUTPUTS.rawBucket, STACK_OUTPUTS.curatedBucket, STACK_OUTPUTS.resultsBucket]) {
      const Bucket = bucketOf(rehearsal, output);
      const encryption = await clients.s3.send(new GetBucketEncryptionCommand({ Bucket }));
      expect(encryption.ServerSideEncryptionConfiguration?.Rules, Bucket).toEqual([
        { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }, BucketKeyEnabled: true },
      ]);
      expect((await clients.s3.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect((await clients.s3.send(new GetBucketOwnershipControlsCommand({ Bucket }))).OwnershipControls?.Rules).toEqual([{ ObjectOwnership: 'BucketOwnerEnforced' }]);
      // moto accepts the logging only because the log bucket's policy lets the logging service write under this prefix.
      expect((await clients.s3.send(new GetBucketLoggingCommand({ Bucket }))).LoggingEnabled?.TargetBucket).toBe(logs);
    }
    const raw = bucketOf(rehearsal, STACK_OUTPUTS.rawBucket);
    const curated = bucketOf(rehearsal, STACK_OUTPUTS.curatedBucket);
    // CloudFormation names the buckets (<stack>-<logical id>-<random>); the stack outputs are how anything finds them.
    expect(rehearsal.outputs[STACK_OUTPUTS.rawBucket]).toBe(raw);
    expect(raw).toMatch(new RegExp(`^${rehearsal.platform.stackName.toLowerCase()}-storageraw[0-9a-f]{8}-[a-z0-9]+$`));
    expect((await clients.s3.send(new GetBucketVersioningCommand({ Bucket: raw }))).Status).toBe('Enabled');
    expect((await clients.s3.send(new GetBucketVersioningCommand({ Bucket: curated }))).Status).toBeUndefined();
    // moto does not report EventBridgeConfiguration back; the events reaching the queue below show it is set.

    // Every dataset's retention, per zone, is an expiry on its prefix in the bucket of that zone.
    const expiries = async (Bucket: string) =>
      new Map(
        ((await clients.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))).Rules ?? [])
          .filter((r) => r.Expiration?.Days !== undefined)
          .map((r) => [r.Filter?.Prefix ?? r.Filter?.And?.Prefix, r.Expiration?.Days]),
      );
    const rawExpiries = await expiries(raw);
    const curatedExpiries = await expiries(curated);
    const rawNoncurrent = new Map(
      ((await clients.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: raw }))).Rules ?? []).map((r) => [r.Filter?.Prefix ?? r.Filter?.And?.Prefix, r.NoncurrentVersionExpiration?.NoncurrentDays]),
    );
    for (const dataset of [air, anpr]) {
      // Raw is versioned: the current version expires early enough that its noncurrent copy is gone by the retention
      // (for personal data, S3's rounding of both steps to the next midnight UTC counted).
      expect(rawExpiries.get(zonePrefix('raw', dataset.id)), dataset.id).toBe(rawExpirationDays(dataset));
      expect(rawExpirationDays(dataset), dataset.id).toBe(dataset.retention.rawDays - RAW_NONCURRENT_DAYS - (dataset === anpr ? 2 : 0));
      expect(rawNoncurrent.get(zonePrefix('raw', dataset.id)), dataset.id).toBe(RAW_NONCURRENT_DAYS);
      expect(curatedExpiries.get(zonePrefix('curated', dataset.id)), dataset.id).toBe(dataset.retention.curatedDays);
      expect(curatedExpiries.get(zonePrefix('quarantine', dataset.id)), dataset.id).toBe(dataset.retention.quarantineDays);
    }
  });

  it('creates each delivery stream with the template’s S3 destination: raw bucket, prefix, GZIP', async () => {
    const stream = datasetDeliveryStream(rehearsal, air);
    const { DeliveryStreamDescription } = await clients.firehose.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: stream.DeliveryStreamName }));
    const destination = DeliveryStreamDescription?.Destinations?.[0]?.ExtendedS3DestinationDescription;
    expect(destination).toMatchObject(stream.ExtendedS3DestinationConfiguration);
    expect(destination).toMatchObject({ BucketARN: `arn:aws:s3:::${bucketOf(rehearsal, STACK_OUTPUTS.rawBucket)}`, CompressionFormat: 'GZIP' });
    expect(destination?.Prefix?.startsWith(zonePrefix('raw', air.id))).toBe(true);
  });

  it('creates the pseudonymisation secret as the template generates it, under the platform key', async () => {
    const arn = transformFunction(rehearsal).environment[TRANSFORM_ENV.pseudonymSecretArn]!;
    const keyArn = platformKeyArn(rehearsal);
    expect((await clients.secrets.send(new DescribeSecretCommand({ SecretId: arn }))).KmsKeyId).toBe(keyArn);
    expect((await clients.secrets.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toMatch(/^[A-Za-z0-9]{64}$/);
  });
});

describe('readings through Firehose, EventBridge and SQS into the bundled transform', () => {
  // Ten past the previous hour: every reading falls in one UTC date, whenever the test runs.
  const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_000_000;
  const at = (offsetSeconds: number) => new Date(base + offsetSeconds * 1000);
  const reading = { ts: at(0).toISOString(), pm25: 12.5, pm10: 20, no2: 31 };
  const airPublications: Publication[] = [
    { datasetId: air.id, sensorId: 'aq-1', payload: reading, receivedAt: at(5) },
    { datasetId: air.id, sensorId: 'aq-2', payload: { ...reading, pm25: 8 }, receivedAt: at(6) },
    // A QoS 1 redelivery: the same message again, later, in the same buffer.
    { datasetId: air.id, sensorId: 'aq-1', payload: reading, receivedAt: at(7) },
    { datasetId: air.id, sensorId: 'aq-1', payload: { ...reading, pm25: '12,5' }, receivedAt: at(8) },
    { datasetId: air.id, sensorId: 'aq-3', payload: 'pm25=12.5', receivedAt: at(9) },
  ];
  const plates = ['1-ABC-123', '2-XYZ-789'];
  const anprPublications: Publication[] = plates.map((plate, i) => ({
    datasetId: anpr.id,
    sensorId: 'cam-7',
    payload: { ts: at(i).toISOString(), direction: i === 0 ? 'in' : 'out', lane: i + 1, plate, confidence: 0.9 },
    receivedAt: at(i + 1),
  }));
  const idOf = (p: Publication) => messageIdFor(topicFor(p.datasetId, p.sensorId), Buffer.from(typeof p.payload === 'string' ? p.payload : JSON.stringify(p.payload)));

  let bridged: Map<string, BridgedObject>;
  let run: Awaited<ReturnType<typeof invokeBundled>>;
  let batch: ReturnType<typeof sqsEvent>;
  let motoKeyMessages: string[];
  let firstDeliveries: number;

  beforeAll(async () => {
    bridged = new Map();
    for (const [dataset, publications] of [[air, airPublications], [anpr, anprPublications]] as const) {
      const stream = datasetDeliveryStream(rehearsal, dataset);
      const rule = streamTopicRule(rehearsal, stream.id);
      // The records carry exactly the columns the synthesized rule selects.
      expect(ruleColumns(rule.sql)).toEqual(REHEARSED_RULE_COLUMNS);
      await putRecordBatch(clients.firehose, stream.DeliveryStreamName, publications.map((p) => ruleRecord(p, rule.separator)));
      const objects = await bridgeDeliveries(clients.s3, stream.DeliveryStreamName, stream.ExtendedS3DestinationConfiguration);
      expect(objects, dataset.id).toHaveLength(1);
      bridged.set(dataset.id, objects[0]!);
    }
    const fn = transformFunction(rehearsal);
    expect(fn.reportsBatchItemFailures).toBe(true);
    const messages = await receiveAll(clients.sqs, fn.queueUrl);
    batch = sqsEvent(messages, fn.queueArn, moto.region);
    // Events for the objects moto wrote before the bridge moved them: on AWS there are no such objects.
    const motoKeys = new Set([...bridged.values()].map((b) => b.motoKey));
    motoKeyMessages = batch.Records.filter((r) => motoKeys.has(ObjectEvent.parse(JSON.parse(r.body)).detail.object.key)).map((r) => r.messageId);
    const bridgedRecords = batch.Records.filter((r) => !motoKeyMessages.includes(r.messageId));
    // The queue's messages in batches of the event source's size, as Lambda polls them.
    const batches = (records: typeof batch.Records) =>
      Array.from({ length: Math.ceil(records.length / fn.batchSize) }, (_, i) => ({ Records: records.slice(i * fn.batchSize, (i + 1) * fn.batchSize) }));
    firstDeliveries = batches(batch.Records).length;
    run = await invokeBundled({
      codeDir: fn.codeDir,
      handler: fn.handler,
      functionName: fn.functionId,
      memoryMb: fn.memoryMb,
      environment: moto.env(fn.environment),
      // The batches the queue held, then its objects' events delivered again (at least once).
      events: [...batches(batch.Records), ...batches(bridgedRecords)],
    });
    await deleteMessages(clients.sqs, fn.queueUrl, messages);
  }, 120_000);

  it('routes an object-created event for each object written in the raw bucket to the transform queue', () => {
    const events = batch.Records.map((r) => ObjectEvent.parse(JSON.parse(r.body)));
    expect(events.every((e) => e['detail-type'] === 'Object Created')).toBe(true);
    expect(events.map((e) => e.detail.object.key).sort()).toEqual([...bridged.values()].flatMap((b) => [b.key, b.motoKey]).sort());
    expect(motoKeyMessages).toHaveLength(2);
  });

  it('lands one gzip JSON-lines object per buffer under the arrival date, holding the rule’s records', async () => {
    const object = bridged.get(air.id)!;
    expect(parseRawKey(object.key)).toMatchObject({ datasetId: air.id, dt: object.arrival.toISOString().slice(0, 10) });
    expect(object.key).toMatch(/\.jsonl\.gz$/);
    const lines = gunzipSync(await readObject(STACK_OUTPUTS.rawBucket, object.key)).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l).messageId)).toEqual(airPublications.map(idOf));
  });

  it('answers the batches with exactly the records it could not transform, and a redelivery with none', () => {
    const Response = z.object({ batchItemFailures: z.array(z.object({ itemIdentifier: z.string() })) });
    const failed = (responses: unknown[]) => responses.flatMap((r) => Response.parse(r).batchItemFailures.map((f) => f.itemIdentifier));
    expect(failed(run.responses.slice(0, firstDeliveries)).sort()).toEqual([...motoKeyMessages].sort());
    expect(run.responses.length).toBeGreaterThan(firstDeliveries);
    expect(failed(run.responses.slice(firstDeliveries))).toEqual([]);
    const failures = run.logs.filter((l) => l.includes('"transform failed"')).map((l) => JSON.parse(l).error);
    expect(failures).toEqual(motoKeyMessages.map(() => expect.stringMatching(/^not a raw object key: "raw\/.*dt=!\{timestamp:yyyy-MM-dd\}\//)));
  });

  it('reports per object what it received, curated, quarantined and removed as duplicates', () => {
    const metrics = run.logs
      .filter((l) => l.startsWith('{"_aws"'))
      .map((l) => z.object({ Dataset: z.string(), Received: z.number(), Curated: z.number(), Quarantined: z.number(), Duplicates: z.number() }).parse(JSON.parse(l)));
    const counts = (dataset: string) => metrics.filter((m) => m.Dataset === dataset).map(({ Received, Curated, Quarantined, Duplicates }) => ({ Received, Curated, Quarantined, Duplicates }));
    // Each object twice: first delivery and redelivery give the same counts.
    expect(counts(air.id)).toEqual(Array(2).fill({ Received: 5, Curated: 2, Quarantined: 2, Duplicates: 1 }));
    expect(counts(anpr.id)).toEqual(Array(2).fill({ Received: 2, Curated: 2, Quarantined: 0, Duplicates: 0 }));
  });

  const rawParts = (dataset: Dataset) => parseRawKey(bridged.get(dataset.id)!.key);
  const curatedKey = (dataset: Dataset) => `${zonePrefix('curated', dataset.id)}dt=${at(0).toISOString().slice(0, 10)}/${rawParts(dataset).name}.parquet`;
  const quarantineKey = (dataset: Dataset) => quarantineKeyOf(rawParts(dataset));

  it('writes exactly the curated Parquet and quarantine objects, named after the raw object, once each', async () => {
    // Curated by event date, quarantine by arrival date: the redelivery rewrote the same keys.
    expect(await listKeys(STACK_OUTPUTS.curatedBucket)).toEqual([curatedKey(air), curatedKey(anpr), quarantineKey(air)].sort());
  });

  it('curates the readings once each, and quarantines the bad ones with their reasons', async () => {
    const rows = await readParquet(STACK_OUTPUTS.curatedBucket, curatedKey(air));
    expect(rows.map((r) => [r.message_id, r.sensor_id, r.pm25]).sort()).toEqual(
      [
        [idOf(airPublications[0]!), 'aq-1', 12.5],
        [idOf(airPublications[1]!), 'aq-2', 8],
      ].sort(),
    );
    expect(rows.every((r) => r.ts instanceof Date && r.ts.getTime() === Date.parse(reading.ts))).toBe(true);

    const quarantined = gunzipSync(await readObject(STACK_OUTPUTS.curatedBucket, quarantineKey(air)))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => z.looseObject({ reason: z.string(), messageId: z.string() }).parse(JSON.parse(l)));
    const reasonOf = (p: Publication) => quarantined.find((q) => q.messageId === idOf(p))?.reason;
    expect(quarantined).toHaveLength(2);
    expect(reasonOf(airPublications[3]!)).toBe('pm25 must be a number, got string "12,5"');
    expect(reasonOf(airPublications[4]!)).toMatch(/^payload is not valid JSON/);
  });

  it('pseudonymises the plates with the key in the secret, and keeps no plate in clear text', async () => {
    const secretArn = transformFunction(rehearsal).environment[TRANSFORM_ENV.pseudonymSecretArn];
    const { SecretString } = await clients.secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
    const key = Buffer.from(SecretString ?? '', 'utf8');
    const rows = await readParquet(STACK_OUTPUTS.curatedBucket, curatedKey(anpr));
    expect(rows.map((r) => r.plate).sort()).toEqual(plates.map((p) => pseudonym(key, p)).sort());
    const bytes = await readObject(STACK_OUTPUTS.curatedBucket, curatedKey(anpr));
    for (const plate of plates) {
      expect(bytes.includes(plate)).toBe(false);
      expect(run.logs.some((l) => l.includes(plate))).toBe(false);
    }
  });
});

describe('the bundled publishing function against S3 (moto)', () => {
  let run: Awaited<ReturnType<typeof invokeBundled>>;
  let keys: string[];

  beforeAll(async () => {
    const { template } = rehearsal.platform;
    const [functionId] = resourcesOfType(template, 'AWS::Lambda::Function').filter(([, f]) => String(f.Properties?.Description).startsWith('Datastroom publishing'))[0]!;
    const [distributionId] = resourcesOfType(template, 'AWS::CloudFront::Distribution')[0]!;
    // moto serves no distribution: the portal's address is one the rehearsal gives it.
    rehearsal.resolver.setAttribute(distributionId, 'DomainName', 'portal.rehearsal.example');
    const props = z
      .looseObject({ Handler: z.string(), MemorySize: z.number(), Environment: z.object({ Variables: z.record(z.string(), z.string()) }) })
      .parse(rehearsal.properties(functionId));
    const codeDir = rehearsal.platform.functionCode.get(functionId);
    if (!codeDir) throw new Error('the publishing function is not bundled: synthesize with bundling');
    run = await invokeBundled({ codeDir, handler: props.Handler, functionName: functionId, memoryMb: props.MemorySize, environment: moto.env(props.Environment.Variables), events: [{}] });
    keys = await listKeys(STACK_OUTPUTS.portalBucket);
  }, 120_000);

  it('writes the open datasets’ portal into the portal bucket: catalog, daily files, page and the dashboard with its page', async () => {
    const [curated] = await listKeys(STACK_OUTPUTS.curatedBucket, zonePrefix('curated', air.id));
    const day = /dt=(\d{4}-\d{2}-\d{2})\//.exec(curated ?? '')?.[1];
    expect(keys).toEqual(
      expect.arrayContaining([
        'catalog.ttl',
        'catalog.jsonld',
        'index.html',
        `data/${air.id}/${air.id}-${day}.csv`,
        `data/${air.id}/${air.id}-${day}.parquet`,
        'dashboard/index.html',
        'dashboard/app.js',
        'dashboard/api/dashboard.json',
      ]),
    );
    const rows = await readParquet(STACK_OUTPUTS.portalBucket, `data/${air.id}/${air.id}-${day}.parquet`);
    expect(rows.map((r) => r.sensor_id).sort()).toEqual(['aq-1', 'aq-2']);
    const catalog = (await readObject(STACK_OUTPUTS.portalBucket, 'catalog.ttl')).toString('utf8');
    expect(catalog).toContain(`<https://portal.rehearsal.example/data/${air.id}/${air.id}-${day}.csv>`);
    expect(run.logs.some((l) => l.includes('"message":"portal published"'))).toBe(true);
  });

  it('holds nothing of the closed dataset the curated bucket also holds', async () => {
    expect(keys.filter((k) => k.includes(anpr.id))).toEqual([]);
    for (const key of keys) {
      const text = (await readObject(STACK_OUTPUTS.portalBucket, key)).toString('latin1');
      expect(text.includes(anpr.id), key).toBe(false);
      expect(text.includes('cam-7'), key).toBe(false);
    }
  });
});

describe('datastroom sensors against IoT (moto), detaching asynchronously', () => {
  const sensor = 'aq-rehearsal-1';
  let certificateId: string;

  it('registers a sensor as a thing of the template’s thing type, with the template’s device policy and its place', async () => {
    const { code, stdout, stderr } = await datastroom('sensors', 'register', air.id, sensor, '--lat', '51.0547', '--lon', '3.7216', '--name', 'Korenmarkt Gent');
    expect(code, stderr).toBe(0);
    const thingType = datasetResourceProperty(rehearsal, air, 'AWS::IoT::ThingType', 'ThingTypeName');
    certificateId = new RegExp(`^registered ${sensor} as a ${thingType} thing with certificate ([0-9a-f]{64});`).exec(stdout)?.[1] ?? '';
    expect(certificateId, stdout).not.toBe('');

    const thing = await clients.iot.send(new DescribeThingCommand({ thingName: sensor }));
    expect(thing).toMatchObject({ thingTypeName: thingType, attributes: { dataset: air.id, latitude: '51.0547', longitude: '3.7216', place_name: 'Korenmarkt#20Gent' } });
    // The place the sensors table reads, in the curated bucket under the dataset's places prefix.
    const place = JSON.parse((await readObject(STACK_OUTPUTS.curatedBucket, placeKey(air.id, sensor))).toString('utf8'));
    expect(place).toMatchObject({ sensor_id: sensor, dataset: air.id, latitude: 51.0547, longitude: 3.7216, name: 'Korenmarkt Gent' });
    const certificate = await clients.iot.send(new DescribeCertificateCommand({ certificateId }));
    expect(certificate.certificateDescription?.status).toBe('ACTIVE');
    const arn = certificate.certificateDescription?.certificateArn ?? '';
    expect((await clients.iot.send(new ListPrincipalThingsCommand({ principal: arn }))).things).toEqual([sensor]);
    expect((await clients.iot.send(new ListAttachedPoliciesCommand({ target: arn }))).policies?.map((p) => p.policyName)).toEqual([
      datasetResourceProperty(rehearsal, air, 'AWS::IoT::Policy', 'PolicyName'),
    ]);

    const dir = join(cwd, '.datastroom', 'devices', sensor);
    const connection = JSON.parse(await readFile(join(dir, 'connection.json'), 'utf8'));
    // The topic to use is Basic Ingest to the template's rule for the dataset; the broker's topic is the alternative.
    const ruleName = datasetResourceProperty(rehearsal, air, 'AWS::IoT::TopicRule', 'RuleName');
    expect(connection).toMatchObject({
      thingName: sensor,
      topic: `$aws/rules/${ruleName}/${topicFor(air.id, sensor)}`,
      brokerTopic: topicFor(air.id, sensor),
      certificateArn: arn,
      port: 8883,
    });
    expect(connection.endpoint).toMatch(/-ats\.iot\..+\.amazonaws\.com$/);
    expect(await readFile(join(dir, 'certificate.pem.crt'), 'utf8')).toBe(certificate.certificateDescription?.certificatePem);
    expect(await readFile(join(dir, 'private.pem.key'), 'utf8')).toMatch(/-----BEGIN RSA PRIVATE KEY-----/);
  });

  it('lists it, and only it, across every dataset’s thing type', async () => {
    const { code, stdout, stderr } = await datastroom('sensors', 'list', '--json');
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toEqual([{ dataset: air.id, sensor, topic: topicFor(air.id, sensor) }]);
  });

  it('revokes it although IoT Core still lists the certificate and refuses the delete right after the detach', async () => {
    const before = { ...proxy.answers };
    const { code, stdout, stderr } = await datastroom('sensors', 'revoke', air.id, sensor);
    expect(code, stderr).toBe(0);
    expect(stdout).toBe(`revoked ${sensor}: certificate(s) ${certificateId} deactivated and detached, thing deleted\n`);
    expect(proxy.answers).toEqual({ ...before, stillListed: before.stillListed + 1, thingStillAttached: before.thingStillAttached + 1 });

    await expect(clients.iot.send(new DescribeThingCommand({ thingName: sensor }))).rejects.toThrow(/ResourceNotFound|not found|does not exist/i);
    await expect(readObject(STACK_OUTPUTS.curatedBucket, placeKey(air.id, sensor))).rejects.toThrow(/NoSuchKey|not exist/i);
    const certificate = await clients.iot.send(new DescribeCertificateCommand({ certificateId }));
    expect(certificate.certificateDescription?.status).toBe('INACTIVE');
    const arn = certificate.certificateDescription?.certificateArn ?? '';
    expect((await clients.iot.send(new ListPrincipalThingsCommand({ principal: arn }))).things).toEqual([]);
    expect((await clients.iot.send(new ListAttachedPoliciesCommand({ target: arn }))).policies).toEqual([]);
    expect(JSON.parse((await datastroom('sensors', 'list', '--json')).stdout)).toEqual([]);
  });

  it('removes what a failed registration created, waiting out the detach, and writes no credentials', async () => {
    const before = { ...proxy.answers };
    const certificates = (await clients.iot.send(new ListCertificatesCommand({}))).certificates?.length ?? 0;
    proxy.refuseNext('GET', /^\/endpoint\?/, { status: 401, type: 'UnauthorizedException', message: 'not allowed to iot:DescribeEndpoint' });
    const { code, stderr } = await datastroom('sensors', 'register', noise.id, 'nz-rehearsal-1');
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /datastroom sensors: registration failed at DescribeEndpoint: not allowed to iot:DescribeEndpoint \(removed again: certificate [0-9a-f]{64}, thing nz-rehearsal-1\)\n$/,
    );
    expect(proxy.answers).toEqual({ stillListed: before.stillListed + 1, thingStillAttached: before.thingStillAttached + 1, certificateStillAttached: before.certificateStillAttached + 1, refused: before.refused + 1 });
    await expect(clients.iot.send(new DescribeThingCommand({ thingName: 'nz-rehearsal-1' }))).rejects.toThrow();
    expect((await clients.iot.send(new ListCertificatesCommand({}))).certificates?.length ?? 0).toBe(certificates);
    expect(existsSync(join(cwd, '.datastroom', 'devices', 'nz-rehearsal-1'))).toBe(false);
  });
});

describe('datastroom query --engine athena against Athena (moto)', () => {
  const sql = 'SELECT sensor_id, count(*) AS n, avg(pm25) AS pm25 FROM air_quality WHERE dt = ? GROUP BY sensor_id ORDER BY sensor_id';
  const column = (Name: string, Type: string) => ({ CatalogName: 'hive', SchemaName: '', TableName: '', Name, Label: Name, Type, Nullable: 'UNKNOWN', CaseSensitive: false });
  const row = (...values: string[]) => ({ Data: values.map((VarCharValue) => ({ VarCharValue })) });

  beforeAll(async () => {
    // moto runs no SQL: it answers each query with the next result queued through its own API.
    const queued = await moto.api('static/athena/query-results', {
      region: moto.region,
      results: [
        {
          rows: [row('sensor_id', 'n', 'pm25'), row('aq-1', '2', '12.5'), row('aq-2', '1', '8.0')],
          column_info: [column('sensor_id', 'varchar'), column('n', 'bigint'), column('pm25', 'double')],
        },
      ],
    });
    expect(queued.status).toBe(201);
  });

  it('runs in the most closed analysts workgroup the caller may use on the stack’s database with the value as an execution parameter, prints the rows, then the scan', async () => {
    // A date typed as on the local engine: the command writes Athena's literal for it.
    const { code, stdout, stderr } = await datastroom('query', sql, '--param', '2026-11-29', '--engine', 'athena', '--format', 'csv');
    expect(code, stderr).toBe(0);
    expect(stdout).toBe('sensor_id,n,pm25\naq-1,2,12.5\naq-2,1,8\n');
    // moto enforces no IAM: every workgroup is usable, so the closed tier's is the first found.
    const workgroup = rehearsal.outputs[workgroupOutputKey('analysts', 'closed')];
    // moto reports no bytes scanned: Athena's 10 MB minimum is what is billed.
    const id = new RegExp(`scanned 0 B, cost \\$0\\.000048 at \\$5 per TB \\(10 MB minimum\\); query ([0-9a-f-]{36}) in workgroup ${workgroup}\\n$`).exec(stderr)?.[1];
    expect(id, stderr).toBeDefined();
    const { QueryExecution } = await clients.athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
    expect(QueryExecution).toMatchObject({
      Query: sql,
      WorkGroup: workgroup,
      QueryExecutionContext: { Database: rehearsal.outputs[STACK_OUTPUTS.database], Catalog: 'AwsDataCatalog' },
      ExecutionParameters: ["DATE '2026-11-29'"],
      Status: { State: 'SUCCEEDED' },
    });
  });

  it('uses the BI workgroup of the tier asked for, as the stack created it', async () => {
    const { code, stdout, stderr } = await datastroom('query', 'SELECT 1', '--engine', 'athena', '--workgroup', 'bi', '--tier', 'shared', '--format', 'json');
    expect(code, stderr).toBe(0);
    // Nothing more was queued: moto answers with no rows.
    expect(JSON.parse(stdout)).toEqual([]);
    expect(stderr).toMatch(new RegExp(`in workgroup ${rehearsal.outputs[workgroupOutputKey('bi', 'shared')]}\\n$`));
  });
});
