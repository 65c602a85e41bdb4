import { join, resolve } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { getDataset } from '../../datasets/index.ts';
import {
  deleteIntegrationSecret,
  listSecretNames,
  putIntegrationSecret,
  readIntegrationSecret,
} from '../../functions/adapters/integration-secrets.ts';
import { integrationSecretPrefix, integrationTopicFor, pushAuthorization, pushPathFor } from '../../functions/core/integrations.ts';
import { acceptedFormats } from '../../functions/core/formats.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { checkDeviceIds, DeviceRegistry } from '../../local/devices.ts';
import { HTTP_PUSH_DEFAULTS } from '../../local/http-push.ts';
import { intOption, parse, portOption, suggestion, UsageError } from '../args.ts';
import { formatTable } from '../format.ts';
import { readPlatformOutputs } from '../stack-outputs.ts';

export const INTEGRATIONS_USAGE = `Usage: datastroom integrations <command> [options]

An integration delivers payloads for the sensors behind it: a The Things
Stack webhook, a FIWARE Orion subscription, sensor.community's "send to own
API", a gateway publishing over MQTT. It pushes to one dataset, with
Authorization: Basic base64(<name>:<secret>) (or Bearer <name>:<secret>).

  register <datasetId> <name> [--format F]   a new secret for it (shown once)
  list [<datasetId>]                         the registered integrations
  revoke <datasetId> <name>                  remove it: its secret no longer works

With --local, on the local platform (datastroom dev): HTTP push to
http://127.0.0.1:<http-port>/ingest/<dataset>[/<format>], and MQTT on
datastroom/integrations/<dataset>/<name>; secrets stored hashed in the data
dir, applied at once by a running dev. Registering an integration does not
switch device authentication on.
  --port P          the broker port written into the credentials (default 1883)
  --http-port P     the HTTP push port written into them (default ${HTTP_PUSH_DEFAULTS.port})
  --out DIR         where credentials go (default <data-dir>/integrations/<name>), readable by you only

On AWS: the secret is kept in Secrets Manager under datastroom/<env>/integrations/<name>
and checked by the stack's HTTP push endpoint (its URL is the stack output PushEndpoint).
  --outputs FILE    the file "cdk deploy --outputs-file" wrote (default cdk-outputs.json)
  --stack NAME      the stack, when the file holds several or to look it up in CloudFormation

  --format F        the format its payloads come in (default: recognised from each payload)
  --json            list as JSON
  --data-dir DIR    (default .datastroom)`;

const ACTIONS = ['register', 'list', 'revoke'];

/** `datastroom integrations ...`: returns the exit status. */
export async function integrationsCommand(argv: readonly string[], secrets: () => SecretsManagerClient = () => new SecretsManagerClient({})): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      local: { type: 'boolean', default: false },
      format: { type: 'string' },
      outputs: { type: 'string' },
      stack: { type: 'string' },
      out: { type: 'string' },
      port: { type: 'string' },
      'http-port': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    true,
  );
  const [action, ...args] = positionals;
  if (values.help || action === undefined) {
    process.stdout.write(`${INTEGRATIONS_USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const layout = dataDirLayout(values['data-dir']);
  const envName = async () => (await readPlatformOutputs({ file: values.outputs, stack: values.stack })).envName;
  switch (action) {
    case 'register': {
      const [datasetId, name] = args;
      if (!datasetId || !name || args.length !== 2) throw new UsageError(`register takes <datasetId> <name>\n\n${INTEGRATIONS_USAGE}`);
      checkDeviceIds(datasetId, name);
      const format = values.format;
      const accepted = acceptedFormats(getDataset(datasetId));
      if (format !== undefined && !accepted.includes(format)) {
        throw new UsageError(`--format: ${datasetId} accepts no format "${format}"${suggestion(format, accepted)}; it accepts ${accepted.join(', ')}`);
      }
      if (values.local) {
        const port = portOption(values.port, 1883);
        const httpPort = intOption('http-port', values['http-port'], HTTP_PUSH_DEFAULTS.port, 0, 65_535);
        const out = resolve(values.out ?? join(layout.root, 'integrations', name));
        const { password, credentialsFile } = await DeviceRegistry.of(layout).register(datasetId, name, { dir: out, host: '127.0.0.1', port, httpPort }, format === undefined ? {} : { format });
        const url = `http://127.0.0.1:${httpPort}${pushPathFor(datasetId, format)}`;
        process.stdout.write(
          [
            `registered integration ${name} for ${datasetId} with the local platform; credentials in ${credentialsFile ?? out} (readable by you only)`,
            `secret (shown once): ${password}`,
            'push over HTTP with:',
            `  curl -X POST ${url} -H 'Content-Type: application/json' -H 'Authorization: ${pushAuthorization(name, password)}' --data @payload.json`,
            `or publish over MQTT (with device authentication on) as client ${name} to ${integrationTopicFor(datasetId, name)}`,
            '',
          ].join('\n'),
        );
        return 0;
      }
      const env = await envName();
      const stored = await putIntegrationSecret(secrets(), `${integrationSecretPrefix(env)}${name}`, { name, dataset: getDataset(datasetId).id, ...(format === undefined ? {} : { format }) });
      process.stdout.write(
        [
          `registered integration ${name} for ${datasetId} in Secrets Manager (${integrationSecretPrefix(env)}${name})`,
          `secret (shown once): ${stored.secret}`,
          `push to <PushEndpoint>${pushPathFor(datasetId, format)} with the header`,
          `  Authorization: ${pushAuthorization(name, stored.secret)}`,
          '',
        ].join('\n'),
      );
      return 0;
    }
    case 'list': {
      const [datasetId] = args;
      if (datasetId !== undefined) getDataset(datasetId);
      let rows: { dataset: string; integration: string; format: string }[];
      if (values.local) {
        rows = (await DeviceRegistry.of(layout).list(datasetId))
          .filter((d) => d.integration)
          .map((d) => ({ dataset: d.datasetId, integration: d.sensorId, format: d.integration?.format ?? '(recognised)' }));
      } else {
        const client = secrets();
        const prefix = integrationSecretPrefix(await envName());
        rows = [];
        for (const secretName of await listSecretNames(client, prefix)) {
          const integration = await readIntegrationSecret(client, secretName);
          if (integration && (datasetId === undefined || integration.dataset === datasetId)) {
            rows.push({ dataset: integration.dataset, integration: integration.name, format: integration.format ?? '(recognised)' });
          }
        }
      }
      process.stdout.write(values.json ? `${JSON.stringify(rows)}\n` : `${formatTable(['dataset', 'integration', 'format'], rows.map((r) => [r.dataset, r.integration, r.format]))}\n`);
      return 0;
    }
    case 'revoke': {
      const [datasetId, name] = args;
      if (!datasetId || !name || args.length !== 2) throw new UsageError(`revoke takes <datasetId> <name>\n\n${INTEGRATIONS_USAGE}`);
      checkDeviceIds(datasetId, name);
      const removed = values.local
        ? await DeviceRegistry.of(layout).revoke(datasetId, name)
        : await deleteIntegrationSecret(secrets(), `${integrationSecretPrefix(await envName())}${name}`);
      process.stdout.write(removed ? `integration ${name} revoked: its secret no longer works\n` : `no integration ${name} for ${datasetId}\n`);
      return removed ? 0 : 1;
    }
    default:
      throw new UsageError(`unknown integrations command "${action}"${suggestion(action, ACTIONS)}\n\n${INTEGRATIONS_USAGE}`);
  }
}
