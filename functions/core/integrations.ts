/**
 * Integrations: gateways, webhooks and pollers that deliver readings on
 * behalf of the sensors behind them. Their messages carry `via` in the raw
 * envelope; the sensor id then comes from the payload, through the format.
 * The topics, paths and names here are shared by the local runtime, the
 * Lambda handlers and the CDK constructs.
 */
import { createHash } from 'node:crypto';
import { BASIC_INGEST_PREFIX, TOPIC_ROOT, topicRuleName } from './envelope.ts';

/**
 * Second topic level of integrations: an integration publishes on
 * `datastroom/integrations/<dataset>/<integration>`. Four levels, where a
 * device's topic has three, so the datasets' rules (`datastroom/<dataset>/+`)
 * never match it, and the integrations' rules match nothing else.
 */
export const INTEGRATIONS_LEVEL = 'integrations';

/** The topic an integration publishes its dataset's payloads on. */
export function integrationTopicFor(datasetId: string, integration: string): string {
  return `${TOPIC_ROOT}/${INTEGRATIONS_LEVEL}/${datasetId}/${integration}`;
}

/** The topic filter of one dataset's integrations (what its integrations rule selects). */
export function integrationTopicFilter(datasetId: string): string {
  return `${TOPIC_ROOT}/${INTEGRATIONS_LEVEL}/${datasetId}/+`;
}

/** Dataset and integration named by an integration topic, or undefined for any other topic. */
export function parseIntegrationTopic(topic: string): { datasetId: string; integration: string } | undefined {
  const levels = topic.split('/');
  if (levels.length !== 4 || levels[0] !== TOPIC_ROOT || levels[1] !== INTEGRATIONS_LEVEL) return undefined;
  return { datasetId: levels[2] as string, integration: levels[3] as string };
}

/** Name of a dataset's integrations rule in an environment. */
export function integrationRuleName(envName: string, datasetId: string): string {
  return `${topicRuleName(envName, datasetId)}_${INTEGRATIONS_LEVEL}`;
}

/** Whether a rule name is a dataset's integrations rule in some environment. */
export function isIntegrationRuleName(ruleName: string, datasetId: string): boolean {
  const suffix = `_${datasetId}_${INTEGRATIONS_LEVEL}`;
  if (!ruleName.startsWith(`${TOPIC_ROOT}_`) || !ruleName.endsWith(suffix)) return false;
  const env = ruleName.slice(TOPIC_ROOT.length + 1, ruleName.length - suffix.length);
  return /^[a-z][a-z0-9_]{0,15}$/.test(env);
}

/** The Basic Ingest topic an integration publishes on to reach its dataset's integrations rule directly. */
export function basicIngestIntegrationTopicFor(ruleName: string, datasetId: string, integration: string): string {
  return `${BASIC_INGEST_PREFIX}${ruleName}/${integrationTopicFor(datasetId, integration)}`;
}

/** The `via` of a message an integration published over MQTT. */
export function mqttVia(integration: string): string {
  return `mqtt:${integration}`;
}

/** The `via` of a payload an integration pushed over HTTP. */
export function httpVia(integration: string): string {
  return `http:${integration}`;
}

/** The `via` of a payload a pull source fetched. */
export function pullVia(source: string): string {
  return `pull:${source}`;
}

/** First path level of HTTP push: `POST /ingest/<dataset>[/<format>]`. */
export const PUSH_PATH_ROOT = 'ingest';

/** The path an integration pushes a dataset's payloads to. */
export function pushPathFor(datasetId: string, format?: string): string {
  return `/${PUSH_PATH_ROOT}/${datasetId}${format === undefined ? '' : `/${format}`}`;
}

/** Dataset and format named by a push path (query string ignored), or undefined for any other path. */
export function parsePushPath(path: string): { datasetId: string; format?: string } | undefined {
  const levels = (path.split('?')[0] ?? '').split('/');
  if (levels[0] !== '' || levels[1] !== PUSH_PATH_ROOT || levels.length < 3 || levels.length > 4) return undefined;
  const [, , datasetId, format] = levels;
  if (!datasetId || format === '') return undefined;
  return format === undefined ? { datasetId } : { datasetId, format };
}

/**
 * The message id of a delivered payload: a digest of where it came from
 * (`via`, dataset, format) and its bytes, so a retried delivery of the same
 * payload has the same id and is removed as a duplicate.
 */
export function deliveryMessageId(via: string, datasetId: string, format: string | undefined, payload: Uint8Array): string {
  return createHash('sha256')
    .update(`${via}\n${datasetId}\n${format ?? ''}\n`)
    .update(payload)
    .digest('hex')
    .slice(0, 32);
}

/**
 * An integration's name and secret from an HTTP `Authorization` header:
 * `Basic base64(name:secret)` (what sensor.community's "own API" user and
 * password send) or `Bearer name:secret` (a custom header in The Things
 * Stack's webhooks or Orion's httpCustom). Undefined for anything else.
 */
export function pushCredentials(authorization: string | undefined): { name: string; secret: string } | undefined {
  if (authorization === undefined) return undefined;
  const match = /^(Basic|Bearer)\s+(\S+)\s*$/i.exec(authorization);
  if (!match) return undefined;
  const token = (match[1] as string).toLowerCase() === 'basic' ? Buffer.from(match[2] as string, 'base64').toString('utf8') : (match[2] as string);
  const colon = token.indexOf(':');
  if (colon <= 0 || colon === token.length - 1) return undefined;
  return { name: token.slice(0, colon), secret: token.slice(colon + 1) };
}

/** The `Authorization` header value an integration sends: Basic, which every sender above can set. */
export function pushAuthorization(name: string, secret: string): string {
  return `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}`;
}

/** Name of a dataset's delivery stream into the raw zone, in an environment. */
export function deliveryStreamNameFor(envName: string, datasetId: string): string {
  return `datastroom-${envName}-${datasetId}`;
}

/** Prefix of the Secrets Manager secrets of an environment's integrations (name, dataset, format, secret). */
export function integrationSecretPrefix(envName: string): string {
  return `datastroom/${envName}/integrations/`;
}

/** Prefix of the Secrets Manager secrets of an environment's pull sources (an API key each). */
export function pullSecretPrefix(envName: string): string {
  return `datastroom/${envName}/pull/`;
}

/** Media types HTTP push takes as JSON: application/json and any `+json` type (application/ld+json of NGSI-LD). */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}
