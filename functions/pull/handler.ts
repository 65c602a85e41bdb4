/**
 * The pull Lambda, run by one EventBridge schedule per pull source (its
 * input names the source): one poll, its payloads put on the dataset's
 * delivery stream, its cursor kept as a small object in the state bucket.
 * Thin on purpose: the poll is the core's, the one `datastroom dev` runs.
 */
import { FirehoseClient, PutRecordCommand } from '@aws-sdk/client-firehose';
import { GetObjectCommand, NoSuchKey, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { findPullSource, pullSources } from '../../datasets/index.ts';
import { s3ClientFromEnv } from '../adapters/s3-store.ts';
import { rawLine } from '../core/envelope.ts';
import { deliveryMessageId, deliveryStreamNameFor, pullSecretPrefix, pullVia } from '../core/integrations.ts';
import { fetchJsonWithRetry, pollOnce, PullCursor, type PollOutcome } from '../core/pull.ts';
import { PULL_ENV, pullCursorKey } from './config.ts';

const config = z.object({ [PULL_ENV.envName]: z.string().min(1), [PULL_ENV.stateBucket]: z.string().min(1) }).parse(process.env);
const envName = config[PULL_ENV.envName];
const bucket = config[PULL_ENV.stateBucket];
const s3 = s3ClientFromEnv();
const firehose = new FirehoseClient({});
const secrets = new SecretsManagerClient({});

/** The schedule's input. */
export const PullEvent = z.object({ source: z.string() });

/** A schedule names a source this deployment does not declare. */
export class UnknownPullSourceError extends Error {
  constructor(id: string) {
    super(`no pull source "${id}": declared are ${pullSources.map((s) => s.id).join(', ')}`);
    this.name = 'UnknownPullSourceError';
  }
}

async function readCursor(key: string): Promise<PullCursor> {
  try {
    const text = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString();
    return PullCursor.parse(JSON.parse(text ?? '{}'));
  } catch (error) {
    if (error instanceof NoSuchKey) return PullCursor.parse({});
    throw error;
  }
}

/**
 * One poll. A failed poll fails the invocation (the function's errors alarm
 * counts it, the log says why) and leaves the cursor where it was: the next
 * scheduled poll fetches the same window again.
 */
export async function handler(event: unknown): Promise<PollOutcome> {
  const { source: id } = PullEvent.parse(event);
  const source = findPullSource(id);
  if (!source) throw new UnknownPullSourceError(id);
  const key = pullCursorKey(source.id);
  const state = await readCursor(key);
  const secret = source.credentials
    ? (await secrets.send(new GetSecretValueCommand({ SecretId: `${pullSecretPrefix(envName)}${source.credentials.secret}` }))).SecretString
    : undefined;
  const via = pullVia(source.id);
  const now = new Date();
  let retries = 0;
  const outcome = await pollOnce(source, state, now.getTime(), {
    secret,
    fetchJson: (request) =>
      fetchJsonWithRetry(request, {
        onRetry: (why, waitMs) => {
          retries += 1;
          console.warn(JSON.stringify({ level: 'warn', message: 'pull request retried', source: source.id, why, waitMs }));
        },
      }),
    deliver: async (payload) => {
      const line = rawLine(source.id, deliveryMessageId(via, source.datasetId, source.format, payload), now, payload, { via, format: source.format });
      await firehose.send(new PutRecordCommand({ DeliveryStreamName: deliveryStreamNameFor(envName, source.datasetId), Record: { Data: Buffer.from(`${line}\n`) } }));
    },
  });
  const cursor = { ...outcome.cursor, retries: state.retries + retries };
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${JSON.stringify(cursor)}\n`, ContentType: 'application/json' }));
  console.log(JSON.stringify({ level: 'info', message: 'pulled', source: source.id, payloads: outcome.payloads, fresh: outcome.fresh, known: outcome.known, retries }));
  return { ...outcome, cursor };
}
