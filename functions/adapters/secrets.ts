import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { checkPseudonymKey, PseudonymKeyError } from '../core/pseudonymise.ts';

/** The pseudonymisation key: the UTF-8 bytes of a Secrets Manager secret's string. */
export async function pseudonymKeyFromSecret(client: SecretsManagerClient, secretId: string): Promise<Buffer> {
  const response = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (typeof response.SecretString !== 'string') throw new PseudonymKeyError(`secret ${secretId} has no string value`);
  return Buffer.from(checkPseudonymKey(Buffer.from(response.SecretString, 'utf8')));
}
