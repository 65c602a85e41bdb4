import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { MAX_NESTING } from './reading.ts';

/** First level of every Datastroom topic. */
export const TOPIC_ROOT = 'datastroom';

/** The filter the platform's rule subscribes to: every dataset, every sensor. */
export const INGEST_TOPIC_FILTER = `${TOPIC_ROOT}/+/+`;

/** IoT Core's message size limit, enforced locally too. */
export const MAX_PAYLOAD_BYTES = 128 * 1024;

/**
 * A sensor id is a topic level, an IoT thing name and part of nothing else:
 * the thing-name alphabet keeps it safe in paths, partitions and SQL.
 */
export const SENSOR_ID_PATTERN = /^[A-Za-z0-9:_-]{1,128}$/;

/** The topic a sensor publishes its readings on. */
export function topicFor(datasetId: string, sensorId: string): string {
  return `${TOPIC_ROOT}/${datasetId}/${sensorId}`;
}

/** The topic filter of one dataset (what its IoT rule selects). */
export function datasetTopicFilter(datasetId: string): string {
  return `${TOPIC_ROOT}/${datasetId}/+`;
}

/**
 * Prefix of an AWS IoT Basic Ingest topic: a message published on
 * `$aws/rules/<rule>/<topic>` goes straight to that rule, without the
 * message broker's per-message charge. The rule's topic functions see
 * `<topic>` only, so `topic()` and `topic(n)` are those of the plain topic.
 */
export const BASIC_INGEST_PREFIX = '$aws/rules/';

/** Name of a dataset's topic rule in an environment (rule names allow only letters, digits and _). */
export function topicRuleName(envName: string, datasetId: string): string {
  return `${TOPIC_ROOT}_${envName.replace(/-/g, '_')}_${datasetId}`;
}

/** The Basic Ingest topic a sensor publishes on to reach its dataset's rule directly. */
export function basicIngestTopicFor(ruleName: string, datasetId: string, sensorId: string): string {
  return `${BASIC_INGEST_PREFIX}${ruleName}/${topicFor(datasetId, sensorId)}`;
}

/**
 * A Basic Ingest topic split into the rule it names and the topic after the
 * prefix (what the rule's topic() returns); undefined for any other topic.
 */
export function splitBasicIngestTopic(topic: string): { ruleName: string; topic: string } | undefined {
  if (!topic.startsWith(BASIC_INGEST_PREFIX)) return undefined;
  const rest = topic.slice(BASIC_INGEST_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const ruleName = rest.slice(0, slash);
  return /^[A-Za-z0-9_]{1,128}$/.test(ruleName) ? { ruleName, topic: rest.slice(slash + 1) } : undefined;
}

/** Whether a rule name is a dataset's topic rule in some environment (see {@link topicRuleName}). */
export function isDatasetRuleName(ruleName: string, datasetId: string): boolean {
  const env = ruleName.slice(TOPIC_ROOT.length + 1, ruleName.length - datasetId.length - 1);
  return ruleName === topicRuleName(env, datasetId) && /^[a-z][a-z0-9_]{0,15}$/.test(env);
}

/** Dataset and sensor named by a Datastroom topic, or undefined for any other topic. */
export function parseTopic(topic: string): { datasetId: string; sensorId: string } | undefined {
  const levels = topic.split('/');
  if (levels.length !== 3 || levels[0] !== TOPIC_ROOT) return undefined;
  return { datasetId: levels[1] as string, sensorId: levels[2] as string };
}

/**
 * The message id: a digest of topic and payload, so a QoS 1 redelivery of the
 * same message carries the same id and is removed as a duplicate. The IoT rule
 * computes the same value: substring(sha256(concat(topic(), encode(*, 'base64'))), 0, 32).
 */
export function messageIdFor(topic: string, payload: Uint8Array): string {
  return createHash('sha256')
    .update(topic + Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64'))
    .digest('hex')
    .slice(0, 32);
}

/** Id of the i-th reading of a message whose payload is a JSON array. */
export function elementMessageId(messageId: string, index: number): string {
  return `${messageId}-${index}`;
}

/**
 * One line of a raw object: the arrival envelope (and the route, for a
 * message an integration delivered) and the payload. A payload
 * that is valid UTF-8 JSON is kept as JSON (`payload`), anything else as
 * base64 (`payloadBase64`), so the raw zone holds exactly what arrived.
 */
export interface RawRecord {
  readonly messageId: string;
  readonly sensorId: string;
  /** ISO 8601 UTC with milliseconds. */
  readonly receivedAt: string;
  readonly payload?: unknown;
  readonly payloadBase64?: string;
  /** Set when the payload was over {@link MAX_PAYLOAD_BYTES}: its size; only its head is kept. */
  readonly payloadBytes?: number;
  /**
   * The integration that delivered the message on behalf of sensors:
   * `http:<name>`, `pull:<source>` or `mqtt:<integration>`. Then `sensorId`
   * names the integration, and each reading's sensor comes from its payload.
   * @default - the sensor published its own reading; its sensor id is `sensorId`
   */
  readonly via?: string;
  /**
   * The format the delivery route declares for the payload; only that format is tried.
   * @default - the format is recognised from the payload
   */
  readonly format?: string;
}

/** How a message was delivered, written into its raw line (see {@link RawRecord.via} and {@link RawRecord.format}). */
export interface RawRoute {
  /** @default - a device published its own reading */
  readonly via?: string;
  /** @default - recognised from the payload */
  readonly format?: string;
}

/** Bytes of an oversized payload kept in raw, for diagnosis. */
const OVERSIZE_HEAD_BYTES = 1024;

/**
 * Serialises one arrival as a raw JSONL line (without the newline). The JSON
 * payload is embedded as it arrived; line breaks between its tokens become
 * spaces (inside JSON strings they are always escaped, so nothing else changes).
 */
export function rawLine(sensorId: string, messageId: string, receivedAt: Date, payload: Buffer, route: RawRoute = {}): string {
  const routeText = `${route.via !== undefined ? `,"via":${JSON.stringify(route.via)}` : ''}${route.format !== undefined ? `,"format":${JSON.stringify(route.format)}` : ''}`;
  const head = `{"messageId":${JSON.stringify(messageId)},"sensorId":${JSON.stringify(sensorId)},"receivedAt":"${receivedAt.toISOString()}"${routeText}`;
  if (payload.length > MAX_PAYLOAD_BYTES) {
    return `${head},"payloadBytes":${payload.length},"payloadBase64":"${payload.subarray(0, OVERSIZE_HEAD_BYTES).toString('base64')}"}`;
  }
  if (isUtf8(payload)) {
    const text = payload.toString('utf8');
    // A payload nesting deeper than a reading may travels as bytes: the SQL reads embedded JSON
    // without judging its depth, and the pre-pass refuses what nests too deep.
    if (isJson(text) && depth(text) <= MAX_NESTING) return `${head},"payload":${text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, ' ') : text}}`;
  }
  return `${head},"payloadBase64":"${payload.toString('base64')}"}`;
}

/** How deep the objects and arrays of a JSON text nest (a flat object is 1; brackets in strings do not count). */
function depth(text: string): number {
  let level = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      level++;
      if (level > deepest) deepest = level;
    } else if (c === 0x7d || c === 0x5d) {
      level--;
    }
  }
  return deepest;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * A raw line for a message whose topic names no dataset: kept whole (as
 * base64, never parsed) with its topic, so nothing that arrived is lost.
 */
export function unroutedLine(topic: string, messageId: string, receivedAt: Date, payload: Buffer): string {
  const kept = payload.length > MAX_PAYLOAD_BYTES ? payload.subarray(0, OVERSIZE_HEAD_BYTES) : payload;
  return JSON.stringify({ messageId, topic, receivedAt: receivedAt.toISOString(), payloadBytes: payload.length, payloadBase64: kept.toString('base64') });
}
