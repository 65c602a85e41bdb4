/**
 * HTTP push on AWS: an API Gateway request (payload format 2.0) judged and
 * turned into the raw line the local endpoint writes, put on the dataset's
 * delivery stream so it lands in the raw zone as IoT messages do. The
 * answers and refusals are those of `datastroom dev`'s endpoint.
 */
import { z } from 'zod';
import { findDataset, getDataset, registry } from '../../datasets/index.ts';
import type { IntegrationSecret } from '../adapters/integration-secrets.ts';
import { secretMatches } from '../adapters/integration-secrets.ts';
import { MAX_PAYLOAD_BYTES, rawLine } from '../core/envelope.ts';
import { acceptedFormats } from '../core/formats.ts';
import { deliveryMessageId, httpVia, isJsonMediaType, parsePushPath, pushCredentials, PUSH_PATH_ROOT } from '../core/integrations.ts';

/** The part of an API Gateway HTTP API event (payload format 2.0) the handler reads. */
export const PushEvent = z.object({
  rawPath: z.string(),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().default(false),
  requestContext: z.object({ http: z.object({ method: z.string(), sourceIp: z.string().optional() }).loose() }).loose(),
});
export type PushEvent = z.infer<typeof PushEvent>;

/** What the handler answers API Gateway with. */
export interface PushResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** What a push needs from outside. */
export interface PushDeps {
  /** The integration registered under a name, or undefined. */
  readonly integration: (name: string) => Promise<IntegrationSecret | undefined>;
  /** Puts one raw line (with its newline) on a dataset's delivery stream. */
  readonly putRecord: (datasetId: string, line: Buffer) => Promise<void>;
  readonly now?: () => Date;
}

const answer = (statusCode: number, body: unknown, headers: Record<string, string> = {}): PushResponse => ({
  statusCode,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
const refuse = (statusCode: number, error: string, headers: Record<string, string> = {}) => answer(statusCode, { error }, headers);
const UNAUTHORIZED = () =>
  refuse(401, 'unknown integration or wrong secret: send Authorization: Basic base64(<integration>:<secret>)', { 'WWW-Authenticate': 'Basic realm="datastroom", charset="UTF-8"' });

/** Judges one push and, when it is accepted, puts its raw line on the dataset's stream before answering 202. */
export async function handlePush(event: PushEvent, deps: PushDeps): Promise<PushResponse> {
  if (event.requestContext.http.method !== 'POST') return refuse(405, `only POST is served, to /${PUSH_PATH_ROOT}/<dataset>[/<format>]`, { Allow: 'POST' });
  const path = parsePushPath(event.rawPath);
  if (!path) return refuse(404, `no such path: POST to /${PUSH_PATH_ROOT}/<dataset>[/<format>]`);
  const dataset = findDataset(path.datasetId);
  if (!dataset) return refuse(404, `unknown dataset "${path.datasetId}": known datasets are ${registry.map((d) => d.id).join(', ')}`);
  const formats = acceptedFormats(getDataset(dataset.id));
  if (path.format !== undefined && !formats.includes(path.format)) return refuse(404, `dataset ${dataset.id} accepts no format "${path.format}": it accepts ${formats.join(', ')}`);
  const given = pushCredentials(event.headers.authorization ?? event.headers.Authorization);
  if (!given) return UNAUTHORIZED();
  const integration = await deps.integration(given.name);
  // Compared even for an unknown name, so the refusal takes the same work.
  if (!secretMatches(integration, given.secret) || !integration) return UNAUTHORIZED();
  if (integration.dataset !== dataset.id) return refuse(403, `integration ${integration.name} delivers to dataset ${integration.dataset} only`);
  if (path.format !== undefined && integration.format !== undefined && path.format !== integration.format) {
    return refuse(403, `integration ${integration.name} delivers format ${integration.format} only`);
  }
  const contentType = event.headers['content-type'] ?? event.headers['Content-Type'];
  if (!isJsonMediaType(contentType)) return refuse(415, `send the payload as JSON (Content-Type: application/json), got ${JSON.stringify(contentType ?? 'none')}`);
  const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  if (body.length > MAX_PAYLOAD_BYTES) return refuse(413, `the payload is over ${MAX_PAYLOAD_BYTES} bytes: send fewer readings per request`);
  if (body.length === 0) return refuse(400, 'the body is empty: send the payload as JSON');
  const format = path.format ?? integration.format;
  const via = httpVia(integration.name);
  const route = format === undefined ? { via } : { via, format };
  const line = rawLine(integration.name, deliveryMessageId(via, dataset.id, format, body), (deps.now ?? (() => new Date()))(), body, route);
  // A failed put is a 5xx: the sender sends again, and the same payload again is the same message.
  await deps.putRecord(dataset.id, Buffer.from(`${line}\n`));
  return answer(202, { accepted: true });
}
