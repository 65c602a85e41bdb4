import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';

/** An integration as its secret holds it. */
export const IntegrationSecret = z.object({
  name: z.string(),
  dataset: z.string(),
  format: z.string().optional(),
  secret: z.string().min(16),
});
export type IntegrationSecret = z.infer<typeof IntegrationSecret>;

/** What a secret's value cannot be used as: it names the secret. */
export class IntegrationSecretError extends Error {
  constructor(secretId: string, problem: string) {
    super(`integration secret ${secretId}: ${problem}`);
    this.name = 'IntegrationSecretError';
  }
}

/** Reads one integration's secret; undefined when there is none of that name. */
export async function readIntegrationSecret(client: SecretsManagerClient, secretId: string): Promise<IntegrationSecret | undefined> {
  let text: string | undefined;
  try {
    text = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
  if (text === undefined) throw new IntegrationSecretError(secretId, 'has no string value');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new IntegrationSecretError(secretId, 'is not JSON');
  }
  const parsed = IntegrationSecret.safeParse(json);
  if (!parsed.success) throw new IntegrationSecretError(secretId, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}

/** A secret stood in for an unknown name, so its comparison costs what a known one's does. */
const STAND_IN = randomBytes(24).toString('base64url');

/**
 * Whether a presented secret is the stored one, compared in constant time
 * over digests of both (the lengths may differ); an unknown integration is
 * compared against a stand-in and refused alike.
 */
export function secretMatches(stored: IntegrationSecret | undefined, presented: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const same = timingSafeEqual(digest(stored?.secret ?? STAND_IN), digest(presented));
  return stored !== undefined && same;
}

/** Creates or replaces an integration's secret with a new random one; returns it (shown once). */
export async function putIntegrationSecret(
  client: SecretsManagerClient,
  secretId: string,
  integration: Omit<IntegrationSecret, 'secret'>,
): Promise<IntegrationSecret> {
  const value: IntegrationSecret = { ...integration, secret: randomBytes(18).toString('base64url') };
  const SecretString = JSON.stringify(value);
  try {
    await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    await client.send(new CreateSecretCommand({ Name: secretId, SecretString, Description: `Datastroom integration ${integration.name}: HTTP push to ${integration.dataset}` }));
  }
  return value;
}

/** Deletes an integration's secret at once; false if there was none. */
export async function deleteIntegrationSecret(client: SecretsManagerClient, secretId: string): Promise<boolean> {
  try {
    await client.send(new DeleteSecretCommand({ SecretId: secretId, ForceDeleteWithoutRecovery: true }));
    return true;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return false;
    throw error;
  }
}

/** The names of the secrets under a prefix. */
export async function listSecretNames(client: SecretsManagerClient, prefix: string): Promise<string[]> {
  const names: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }], NextToken }));
    for (const secret of page.SecretList ?? []) if (secret.Name?.startsWith(prefix)) names.push(secret.Name);
    NextToken = page.NextToken;
  } while (NextToken);
  return names;
}
