/**
 * The HTTP push Lambda behind the stack's HTTP API: credentials checked
 * against the integrations' secrets in Secrets Manager, accepted payloads
 * put on their dataset's delivery stream. Thin on purpose: the judging is
 * in push.ts, the same answers as the local endpoint's.
 */
import { FirehoseClient, PutRecordCommand } from '@aws-sdk/client-firehose';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { readIntegrationSecret, type IntegrationSecret } from '../adapters/integration-secrets.ts';
import { deliveryStreamNameFor, integrationSecretPrefix } from '../core/integrations.ts';
import { PUSH_ENV } from './config.ts';
import { handlePush, PushEvent, type PushResponse } from './push.ts';


const config = z.object({ [PUSH_ENV.envName]: z.string().min(1) }).parse(process.env);
const envName = config[PUSH_ENV.envName];
const secrets = new SecretsManagerClient({});
const firehose = new FirehoseClient({});

/**
 * Integrations read in this container: a known one for five minutes (a new
 * secret takes effect within them), an unknown name for one, so guessing
 * names costs Secrets Manager calls only once a minute per name.
 */
const cache = new Map<string, { value: IntegrationSecret | undefined; until: number }>();
const KNOWN_MS = 5 * 60_000;
const UNKNOWN_MS = 60_000;
const MAX_CACHED = 1_000;

async function integration(name: string): Promise<IntegrationSecret | undefined> {
  const now = Date.now();
  const hit = cache.get(name);
  if (hit && hit.until > now) return hit.value;
  // A name that is no secret name is no integration: not looked up at all.
  const value = /^[A-Za-z0-9:_-]{1,128}$/.test(name) ? await readIntegrationSecret(secrets, `${integrationSecretPrefix(envName)}${name}`) : undefined;
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value ?? '');
  cache.set(name, { value: value?.name === name ? value : undefined, until: now + (value ? KNOWN_MS : UNKNOWN_MS) });
  return value?.name === name ? value : undefined;
}

export async function handler(event: unknown): Promise<PushResponse> {
  const parsed = PushEvent.safeParse(event);
  if (!parsed.success) return { statusCode: 400, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ error: 'not an HTTP API request' }) };
  return handlePush(parsed.data, {
    integration,
    putRecord: async (datasetId, line) => {
      await firehose.send(new PutRecordCommand({ DeliveryStreamName: deliveryStreamNameFor(envName, datasetId), Record: { Data: line } }));
    },
  });
}
