import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { IoTClient } from '@aws-sdk/client-iot';
import type { S3Client } from '@aws-sdk/client-s3';
import { placeAttributes, PlaceError, placeFromInput, type SensorPlace } from '../../functions/core/places.ts';
import { deletePlace, putPlace } from '../../functions/adapters/places-s3.ts';
import { s3ClientFromEnv } from '../../functions/adapters/s3-store.ts';
import { removeLocalPlace, writeLocalPlace } from '../../local/places.ts';
import { getDataset, registry } from '../../datasets/index.ts';
import { topicFor, topicRuleName } from '../../functions/core/envelope.ts';
import { listDevices, registerDevice, revokeDevice, type DatasetIotNames } from '../../functions/adapters/iot-devices.ts';
import { devicePolicyName, thingTypeName } from '../../infra/names.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { checkDeviceIds, DeviceRegistry } from '../../local/devices.ts';
import { plausibleReading, seededRandom } from '../../local/readings.ts';
import { parse, portOption, suggestion, UsageError } from '../args.ts';
import { formatRows } from '../format.ts';
import { readPlatformOutputs } from '../stack-outputs.ts';

export const SENSORS_USAGE = `Usage: datastroom sensors <command> [options]

  register <datasetId> <sensorId>   create the sensor's identity and write its credentials
  list [<datasetId>]                the registered sensors
  revoke <datasetId> <sensorId>     deactivate and detach its certificate, remove it
  auth on|off|status                (--local only) whether the local broker authenticates devices

datastroom sensors <command> --help tells more about each.

On AWS (IoT Core; names from the deployed stack's outputs):
  --outputs FILE    the file "cdk deploy --outputs-file" wrote (default cdk-outputs.json)
  --stack NAME      the stack, when the file holds several or to look it up in CloudFormation
  --csr FILE        sign the device's own certificate request instead of creating keys
With --local, on the local platform (datastroom dev): credentials stored hashed in the data dir.
  Registering a device switches authentication on: from then on only registered devices
  (and the demo fleet) may connect, each publishing to its own topic only, and nobody may
  subscribe. It stays on, also when the last device is revoked or devices.json is lost,
  until "auth off" (the mode is kept in <data-dir>/state/authentication.json). A running
  datastroom dev applies every change at once and disconnects clients no longer allowed.
  --port P          the broker port to write into the credentials (default 1883)

  --lat D --lon D   where the sensor stands (decimal degrees, WGS 84): shown on the dashboard's map,
                    queried as the sensors table; --name and --address describe the place
  --out DIR         where credentials go (default <data-dir>/devices/<sensorId>), readable by you only
  --json            list as JSON
  --data-dir DIR    (default .datastroom)`;

const OPTIONS = {
  local: { type: 'boolean', default: false },
  outputs: { type: 'string' },
  stack: { type: 'string' },
  csr: { type: 'string' },
  out: { type: 'string' },
  port: { type: 'string' },
  json: { type: 'boolean', default: false },
  lat: { type: 'string' },
  lon: { type: 'string' },
  name: { type: 'string' },
  address: { type: 'string' },
} as const;

function examplePayload(datasetId: string): string {
  return JSON.stringify(plausibleReading(getDataset(datasetId), new Date(), seededRandom(1)));
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

async function iotNames(datasetId: string, values: { outputs?: string; stack?: string }): Promise<DatasetIotNames> {
  const { envName } = await readPlatformOutputs({ file: values.outputs, stack: values.stack });
  const dataset = getDataset(datasetId);
  return { datasetId, thingTypeName: thingTypeName(envName, dataset), policyName: devicePolicyName(envName, dataset), ruleName: topicRuleName(envName, datasetId) };
}

/** The help of each sensors subcommand. */
export const SENSORS_SUBCOMMAND_USAGE: Readonly<Record<string, string>> = {
  register: `Usage: datastroom sensors register <datasetId> <sensorId> [--local [--port P] | --outputs FILE | --stack NAME] [--csr FILE] [--out DIR]
                                   [--lat D --lon D [--name TEXT] [--address TEXT]]

Creates the sensor's identity and writes its credentials (readable by you only)
to --out (default <data-dir>/devices/<sensorId>), then prints the exact
mosquitto_pub command. On AWS: a thing in the dataset's thing type, a
certificate (or one signed from your own request with --csr), the dataset's
device policy. With --local: a password for the local broker, which from then
on authenticates devices (a running datastroom dev applies it at once; the
demo fleet keeps its own credentials). The credentials are written before
the registry changes: if they cannot be, nothing is registered and a device
registered before keeps its password.

--lat and --lon (decimal degrees, WGS 84) record where the sensor stands,
with --name and --address: in the curated zone as
curated/_places/<datasetId>/<sensorId>.json, the sensors table on both
engines, and on AWS also as the thing's attributes.`,
  list: `Usage: datastroom sensors list [<datasetId>] [--local] [--json]

The registered sensors with their topics, of one dataset or all.`,
  revoke: `Usage: datastroom sensors revoke <datasetId> <sensorId> [--local]

On AWS: deactivates and detaches the sensor's certificates and deletes the
thing. With --local: removes its password; a running datastroom dev
disconnects it at once. Local authentication stays on.`,
  auth: `Usage: datastroom sensors auth on|off|status --local

Whether the local broker authenticates devices. On: only registered devices
and the demo fleet connect, each publishing to its own topic. Off: any client
may publish on any topic. The mode is kept in <data-dir>/state/authentication.json:
only "auth off" switches it off, never revoking devices or losing devices.json.`,
};

const SENSORS_ACTIONS = Object.keys(SENSORS_SUBCOMMAND_USAGE);

/** The place given with --lat, --lon, --name and --address, or undefined; a usage error for one that cannot be stored. */
function placeOption(datasetId: string, sensorId: string, values: { lat?: string; lon?: string; name?: string; address?: string }): SensorPlace | undefined {
  try {
    return placeFromInput(datasetId, sensorId, { latitude: values.lat, longitude: values.lon, name: values.name, address: values.address });
  } catch (error) {
    if (error instanceof PlaceError) throw new UsageError(error.message);
    throw error;
  }
}

/** `datastroom sensors ...`: returns the exit status. */
export async function sensorsCommand(
  argv: readonly string[],
  iot: () => IoTClient = () => new IoTClient({}),
  s3: () => S3Client = () => s3ClientFromEnv(),
): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS, true);
  const [action, ...args] = positionals;
  if (values.help && action !== undefined && SENSORS_SUBCOMMAND_USAGE[action]) {
    process.stdout.write(`${SENSORS_SUBCOMMAND_USAGE[action]}\n`);
    return 0;
  }
  if (values.help || action === undefined) {
    process.stdout.write(`${SENSORS_USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const layout = dataDirLayout(values['data-dir']);
  switch (action) {
    case 'register': {
      const [datasetId, sensorId] = args;
      if (!datasetId || !sensorId || args.length !== 2) throw new UsageError(`register takes <datasetId> <sensorId>\n\n${SENSORS_USAGE}`);
      // Refused here, before any AWS call or file write.
      const device = checkDeviceIds(datasetId, sensorId);
      const out = resolve(values.out ?? join(layout.root, 'devices', sensorId));
      const topic = topicFor(device.datasetId, device.sensorId);
      const place = placeOption(datasetId, sensorId, values);
      if (values.local) {
        if (values.csr) throw new UsageError('--csr is for AWS IoT Core; local devices use a password');
        const port = portOption(values.port, 1883);
        const { password, switchedOn, credentialsFile: file } = await DeviceRegistry.of(layout).register(datasetId, sensorId, { dir: out, host: '127.0.0.1', port });
        const placeFile = place ? await writeLocalPlace(layout, place) : undefined;
        process.stdout.write(
          [
            `registered ${sensorId} for ${datasetId} with the local platform; credentials in ${file} (readable by you only)`,
            ...(placeFile ? [`place ${place?.latitude}, ${place?.longitude} recorded in ${placeFile}`] : []),
            ...(switchedOn ? ['device authentication is now on: only registered devices (and the demo fleet) may connect'] : []),
            `password (shown once): ${password}`,
            'publish with:',
            `  mosquitto_pub -h 127.0.0.1 -p ${port} -i ${sensorId} -u ${sensorId} -P ${shellQuote(password)} -q 1 -t ${topic} -m ${shellQuote(examplePayload(datasetId))}`,
            '',
          ].join('\n'),
        );
        return 0;
      }
      const names = await iotNames(datasetId, values);
      const csr = values.csr === undefined ? undefined : await readFile(values.csr, 'utf8');
      const registered = await registerDevice(iot(), names, sensorId, { csr, attributes: place ? placeAttributes(place) : undefined });
      const placeKey = place ? await putPlace(s3(), (await readPlatformOutputs({ file: values.outputs, stack: values.stack })).curatedBucket, place) : undefined;
      await mkdir(out, { recursive: true, mode: 0o700 });
      const certificate = join(out, 'certificate.pem.crt');
      await writeFile(certificate, registered.certificatePem, { mode: 0o600 });
      const key = join(out, 'private.pem.key');
      if (registered.privateKey !== undefined) await writeFile(key, registered.privateKey, { mode: 0o600 });
      await writeFile(
        join(out, 'connection.json'),
        JSON.stringify(
          {
            endpoint: registered.endpoint,
            port: 8883,
            clientId: sensorId,
            thingName: registered.thingName,
            topic: registered.topic,
            brokerTopic: registered.brokerTopic,
            dataset: datasetId,
            certificateArn: registered.certificateArn,
          },
          null,
          2,
        ) + '\n',
        { mode: 0o600 },
      );
      process.stdout.write(
        [
          `registered ${sensorId} as a ${names.thingTypeName} thing with certificate ${registered.certificateId}; files in ${out} (readable by you only)`,
          ...(placeKey ? [`place ${place?.latitude}, ${place?.longitude} recorded as the thing's attributes and in ${placeKey}`] : []),
          `topic: ${registered.topic}`,
          `  (Basic Ingest: straight to the dataset's rule, without IoT Core's messaging charge; ${registered.brokerTopic} works too, through the message broker, at $1 per million messages)`,
          'publish with (Amazon Root CA 1: Debian ships it in ca-certificates, or https://www.amazontrust.com/repository/AmazonRootCA1.pem):',
          `  mosquitto_pub -h ${registered.endpoint} -p 8883 --cafile /etc/ssl/certs/Amazon_Root_CA_1.pem --cert ${certificate} --key ${registered.privateKey !== undefined ? key : '<your private key>'} -i ${sensorId} -q 1 -t ${shellQuote(registered.topic)} -m ${shellQuote(examplePayload(datasetId))}`,
          '',
        ].join('\n'),
      );
      return 0;
    }
    case 'list': {
      const [datasetId] = args;
      const datasets = datasetId === undefined ? registry : [getDataset(datasetId)];
      let rows: string[][];
      if (values.local) {
        rows = (await DeviceRegistry.of(layout).list(datasetId)).filter((d) => !d.integration).map((d) => [d.datasetId, d.sensorId, topicFor(d.datasetId, d.sensorId)]);
      } else {
        rows = [];
        const client = iot();
        for (const dataset of datasets) {
          const names = await iotNames(dataset.id, values);
          for (const thing of await listDevices(client, names)) rows.push([dataset.id, thing.thingName, topicFor(dataset.id, thing.thingName)]);
        }
      }
      process.stdout.write(`${formatRows(values.json ? 'json' : 'table', ['dataset', 'sensor', 'topic'], rows)}\n`);
      return 0;
    }
    case 'revoke': {
      const [datasetId, sensorId] = args;
      if (!datasetId || !sensorId || args.length !== 2) throw new UsageError(`revoke takes <datasetId> <sensorId>\n\n${SENSORS_USAGE}`);
      checkDeviceIds(datasetId, sensorId);
      if (values.local) {
        const registry = DeviceRegistry.of(layout);
        const removed = await registry.revoke(datasetId, sensorId);
        if (!removed) throw new UsageError(`no local device ${sensorId} of ${datasetId} is registered`);
        await removeLocalPlace(layout, datasetId, sensorId);
        const { authentication, devices } = await registry.status();
        process.stdout.write(
          `revoked ${sensorId}: a running datastroom dev disconnects it at once; device authentication stays ${authentication} (${devices} device${devices === 1 ? '' : 's'} left)\n`,
        );
        return 0;
      }
      const deactivated = await revokeDevice(iot(), await iotNames(datasetId, values), sensorId);
      await deletePlace(s3(), (await readPlatformOutputs({ file: values.outputs, stack: values.stack })).curatedBucket, datasetId, sensorId);
      process.stdout.write(`revoked ${sensorId}: certificate(s) ${deactivated.length > 0 ? deactivated.join(', ') : 'none'} deactivated and detached, thing deleted\n`);
      return 0;
    }
    case 'auth': {
      const [mode] = args;
      if (!values.local) throw new UsageError('auth is for the local platform (--local); on AWS IoT Core every device connects with its own certificate');
      if ((mode !== 'on' && mode !== 'off' && mode !== 'status') || args.length !== 1) {
        throw new UsageError(`auth takes on, off or status\n\n${SENSORS_USAGE}`);
      }
      const registry = DeviceRegistry.of(layout);
      if (mode !== 'status') await registry.setAuthentication(mode);
      const { authentication, devices } = await registry.status();
      const count = `${devices} registered device${devices === 1 ? '' : 's'}`;
      process.stdout.write(
        authentication === 'on'
          ? `device authentication is on: only the ${count} and the demo fleet may connect; a running datastroom dev disconnects any other client\n`
          : `device authentication is off: any client may connect, publish on any topic and subscribe (${count})\n`,
      );
      return 0;
    }
    default:
      throw new UsageError(`unknown sensors command "${action}"${suggestion(action, SENSORS_ACTIONS)}\n\n${SENSORS_USAGE}`);
  }
}
