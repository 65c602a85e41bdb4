/**
 * Polling pull sources: a window becomes requests, answers become raw
 * payloads, and a cursor remembers what was delivered. The same code runs in
 * `datastroom dev` and in the scheduled Lambda; fetching, sleeping, the
 * cursor's store and the raw sink are handed in.
 */
import { z } from 'zod';
import { durationSeconds, type PullSource } from '../../datasets/index.ts';
import { MAX_PAYLOAD_BYTES } from './envelope.ts';

/** One HTTP request of a poll. */
export interface PullRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** One reading an answer holds, as the cursor tells it apart: its key and its time (epoch ms). */
export interface PulledItem {
  readonly key: string;
  readonly ts: number;
}

/** One raw payload of a poll, with the readings in it. */
export interface PulledPage {
  readonly payload: unknown;
  readonly items: readonly PulledItem[];
}

/** Fetches one request's JSON answer (retrying as it sees fit). */
export type FetchJson = (request: PullRequest) => Promise<unknown>;

/** An answer that is not the shape the protocol expects: names the source and what is wrong. */
export class PullAnswerError extends Error {
  constructor(sourceId: string, url: string, problem: string) {
    super(`pull source ${sourceId}: the answer of ${url} ${problem}`);
    this.name = 'PullAnswerError';
  }
}

/** The request failed for good (after its retries): names the source, the URL and the last failure. */
export class PullRequestError extends Error {
  constructor(
    readonly url: string,
    readonly status: number | undefined,
    problem: string,
  ) {
    super(`${url}: ${problem}`);
    this.name = 'PullRequestError';
  }
}

const telraamAnswer = z.object({ report: z.array(z.object({ segment_id: z.union([z.number(), z.string()]), date: z.string() }).loose()) }).loose();
const sosData = z.object({ values: z.array(z.object({ timestamp: z.number(), value: z.number().nullable() }).loose()) }).loose();
const sosMeta = z.object({ id: z.union([z.string(), z.number()]) }).loose();
const odsAnswer = z.object({ total_count: z.number().optional(), results: z.array(z.object({ name: z.string(), lastupdate: z.string() }).loose()) }).loose();

/** Opendatasoft serves at most this many records a request. */
export const ODS_PAGE = 100;

/** Telraam answers at most three months a request; a week keeps each answer far below the payload limit. */
const TELRAAM_CHUNK_MS = 7 * 86_400_000;

function parseAnswer<T>(schema: z.ZodType<T>, source: PullSource, url: string, answer: unknown): T {
  const parsed = schema.safeParse(answer);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PullAnswerError(source.id, url, `is not what ${source.protocol} serves: ${issue ? `${issue.path.length > 0 ? issue.path.join('.') : 'the top level'}: ${issue.message}` : 'unexpected content'}`);
  }
  return parsed.data;
}

/** Telraam's time format: `YYYY-MM-DD HH:MM:SSZ`. */
function telraamTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The pages of one poll over [from, to) (epoch ms): what the protocol's
 * requests answered, one page per answer (IRCELINE: the station's series
 * together, so its pollutants make one reading per time).
 */
export async function* pollPages(source: PullSource, window: { from: number; to: number }, fetchJson: FetchJson, secret?: string): AsyncGenerator<PulledPage> {
  const auth: Record<string, string> = source.credentials && secret !== undefined ? { [source.credentials.header]: secret } : {};
  switch (source.protocol) {
    case 'telraam': {
      for (const id of source.ids ?? []) {
        for (let start = window.from; start < window.to; start += TELRAAM_CHUNK_MS) {
          const end = Math.min(start + TELRAAM_CHUNK_MS, window.to);
          const body = JSON.stringify({ level: 'segments', format: 'per-hour', id, time_start: telraamTime(start), time_end: telraamTime(end) });
          const answer = await fetchJson({ method: 'POST', url: source.url, headers: { 'Content-Type': 'application/json', ...auth }, body });
          const { report } = parseAnswer(telraamAnswer, source, source.url, answer);
          yield { payload: answer, items: report.map((r) => ({ key: `${r.segment_id}|${r.date}`, ts: Date.parse(r.date) })) };
        }
      }
      return;
    }
    case 'irceline-sos': {
      const timespan = `${new Date(window.from).toISOString()}/${new Date(window.to).toISOString()}`;
      const timeseries: unknown[] = [];
      const answers = new Map<string, z.infer<typeof sosData>>();
      for (const id of source.ids ?? []) {
        const metaUrl = `${source.url}/timeseries/${encodeURIComponent(id)}`;
        timeseries.push(parseAnswer(sosMeta, source, metaUrl, await fetchJson({ method: 'GET', url: metaUrl, headers: { Accept: 'application/json', ...auth } })));
        const dataUrl = `${metaUrl}/getData?timespan=${encodeURIComponent(timespan)}`;
        answers.set(id, parseAnswer(sosData, source, dataUrl, await fetchJson({ method: 'GET', url: dataUrl, headers: { Accept: 'application/json', ...auth } })));
      }
      // The answers split by time, as served: per time, the station's series' metadata (which names each
      // one's pollutant) and each series' value then, so its pollutants make one reading.
      const times = [...new Set([...answers.values()].flatMap((a) => a.values.map((v) => v.timestamp)))].sort((a, b) => a - b);
      for (const timestamp of times) {
        const data: Record<string, unknown> = {};
        const items: PulledItem[] = [];
        for (const [id, answer] of answers) {
          const values = answer.values.filter((v) => v.timestamp === timestamp);
          data[id] = { ...answer, values };
          if (values.length > 0) items.push({ key: `${id}|${timestamp}`, ts: timestamp });
        }
        yield { payload: { station: source.station, timestamp, timeseries, data }, items };
      }
      return;
    }
    case 'opendatasoft': {
      for (let offset = 0; ; offset += ODS_PAGE) {
        const url = `${source.url}${source.url.includes('?') ? '&' : '?'}limit=${ODS_PAGE}&offset=${offset}`;
        const answer = await fetchJson({ method: 'GET', url, headers: { Accept: 'application/json', ...auth } });
        const { results, total_count: total } = parseAnswer(odsAnswer, source, url, answer);
        yield { payload: answer, items: results.map((r) => ({ key: `${r.name}|${r.lastupdate}`, ts: Date.parse(r.lastupdate) })) };
        if (results.length < ODS_PAGE || (total !== undefined && offset + ODS_PAGE >= total)) return;
      }
    }
  }
}

/** The list a page's readings are under, for splitting an answer too large for one payload. */
function itemListOf(payload: unknown): { key: string; list: unknown[] } | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  for (const key of ['report', 'results', 'values']) {
    const list = (payload as Record<string, unknown>)[key];
    if (Array.isArray(list)) return { key, list };
  }
  return undefined;
}

/**
 * A page as payloads of at most MAX_PAYLOAD_BYTES each: an answer too large
 * is split along its list of readings, every part keeping the rest of the
 * answer as served. A page that cannot be split (one reading over the
 * limit) is kept whole: the raw zone keeps its head and the transform
 * quarantines it with the reason.
 */
export function splitPage(page: PulledPage): { text: string; items: readonly PulledItem[] }[] {
  const text = JSON.stringify(page.payload);
  if (Buffer.byteLength(text) <= MAX_PAYLOAD_BYTES) return [{ text, items: page.items }];
  const found = itemListOf(page.payload);
  // The protocols list one item per element, in order; a page that does not is kept whole.
  if (!found || found.list.length < 2 || page.items.length !== found.list.length) return [{ text, items: page.items }];
  const half = Math.ceil(found.list.length / 2);
  const part = (from: number, to: number): PulledPage => ({
    payload: { ...(page.payload as Record<string, unknown>), [found.key]: found.list.slice(from, to) },
    items: page.items.slice(from, to),
  });
  return [...splitPage(part(0, half)), ...splitPage(part(half, found.list.length))];
}

/** What a pull source remembers between polls. */
export const PullCursor = z.object({
  /** The latest reading time delivered (epoch ms). */
  cursor: z.number().optional(),
  /** Keys of the readings delivered within `overlap` before the cursor: a poll reaching back over them skips them. */
  seen: z.array(z.string()).default([]),
  /** Times of those keys, parallel to `seen`. */
  seenTs: z.array(z.number()).default([]),
  polls: z.number().int().default(0),
  failures: z.number().int().default(0),
  retries: z.number().int().default(0),
  payloads: z.number().int().default(0),
  lastError: z.string().optional(),
  lastSuccess: z.string().optional(),
});
export type PullCursor = z.infer<typeof PullCursor>;

/** How a poll reaches the outside world. */
export interface PollDeps {
  readonly fetchJson: FetchJson;
  /** Writes one raw payload durably (the ingest's buffer, or the delivery stream). */
  readonly deliver: (payload: Buffer) => Promise<void>;
  readonly secret?: string;
}

/** What one poll did. */
export interface PollOutcome {
  readonly window: { readonly from: number; readonly to: number };
  /** Raw payloads written. */
  readonly payloads: number;
  /** Readings in them the cursor had not seen. */
  readonly fresh: number;
  /** Readings answered again that the cursor had seen (their pages skipped where nothing else was new). */
  readonly known: number;
  readonly cursor: PullCursor;
}

/**
 * One poll of a source: from its cursor (less the overlap; the lookback on
 * the first poll) to now. Each page with a reading the cursor has not seen
 * is written whole, as served (a reading seen before in it is removed as a
 * duplicate downstream: pull formats identify readings by sensor and time);
 * a page of readings all seen is skipped. The cursor moves only after every
 * page is written: a poll that fails is done again by the next, nothing lost.
 */
export async function pollOnce(source: PullSource, state: PullCursor, now: number, deps: PollDeps): Promise<PollOutcome> {
  const overlapMs = (durationSeconds(source.overlap) ?? 0) * 1000;
  const from = state.cursor === undefined ? now - (durationSeconds(source.lookback) ?? 0) * 1000 : Math.min(state.cursor - overlapMs, now);
  const window = { from, to: now };
  const seen = new Set(state.seen);
  const delivered = new Map<string, number>(state.seen.map((k, i) => [k, state.seenTs[i] ?? 0]));
  let payloads = 0;
  let fresh = 0;
  let known = 0;
  for await (const page of pollPages(source, window, deps.fetchJson, deps.secret)) {
    for (const part of splitPage(page)) {
      // A reading before the window is one the cursor has let go of, or one the API answered beyond what was
      // asked (Opendatasoft's current state, a car park not updated for a while): known either way.
      const isNew = part.items.filter((i) => !seen.has(i.key) && Number.isFinite(i.ts) && i.ts >= window.from);
      known += part.items.length - isNew.length;
      if (isNew.length === 0) continue;
      await deps.deliver(Buffer.from(part.text));
      payloads += 1;
      fresh += isNew.length;
      for (const item of isNew) {
        seen.add(item.key);
        delivered.set(item.key, item.ts);
      }
    }
  }
  const latest = Math.max(state.cursor ?? -Infinity, ...[...delivered.values()]);
  const cursor = Number.isFinite(latest) ? latest : state.cursor;
  // Only what a later poll can still reach is remembered: memory stays bounded by the overlap.
  const horizon = (cursor ?? now) - overlapMs;
  const kept = [...delivered].filter(([, ts]) => ts >= horizon);
  return {
    window,
    payloads,
    fresh,
    known,
    cursor: {
      ...state,
      cursor,
      seen: kept.map(([k]) => k),
      seenTs: kept.map(([, ts]) => ts),
      polls: state.polls + 1,
      payloads: state.payloads + payloads,
      lastSuccess: new Date(now).toISOString(),
    },
  };
}

/** How requests are retried. */
export const PULL_RETRY = Object.freeze({
  /** Tries per request, the first included. */
  attempts: 4,
  /** The first wait after an error or a timeout; doubled per retry. */
  backoffMs: 1_000,
  /** A request without an answer by then is abandoned (and retried). */
  timeoutMs: 30_000,
  /** The longest Retry-After waited for; a longer one fails the poll, and the next poll tries again. */
  maxRetryAfterMs: 120_000,
});

/** Options of {@link fetchJsonWithRetry}. */
export interface RetryOptions {
  /** @default PULL_RETRY.attempts */
  readonly attempts?: number;
  /** @default PULL_RETRY.backoffMs */
  readonly backoffMs?: number;
  /** @default PULL_RETRY.timeoutMs */
  readonly timeoutMs?: number;
  /** @default PULL_RETRY.maxRetryAfterMs */
  readonly maxRetryAfterMs?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told of each retry and why. @default - nothing */
  readonly onRetry?: (why: string, waitMs: number) => void;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** A Retry-After header's wait in ms (seconds, or an HTTP date), or undefined. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Fetches a request's JSON answer. A network error, a timeout or a 5xx is
 * retried after a doubling wait; a 429 after its Retry-After (at most
 * maxRetryAfterMs, else the request fails); any other answer that is not
 * 2xx JSON fails at once. Throws PullRequestError after the last attempt.
 */
export async function fetchJsonWithRetry(request: PullRequest, options: RetryOptions = {}): Promise<unknown> {
  const attempts = options.attempts ?? PULL_RETRY.attempts;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const doFetch = options.fetch ?? fetch;
  let failure: PullRequestError | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let wait = (options.backoffMs ?? PULL_RETRY.backoffMs) * 2 ** (attempt - 1);
    try {
      const response = await doFetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal: AbortSignal.timeout(options.timeoutMs ?? PULL_RETRY.timeoutMs),
      });
      if (response.ok) {
        const text = await response.text();
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new PullRequestError(request.url, response.status, `answered ${response.status} with a body that is not JSON`);
        }
      }
      await response.body?.cancel();
      if (response.status === 429) {
        const after = retryAfterMs(response.headers.get('retry-after'));
        const max = options.maxRetryAfterMs ?? PULL_RETRY.maxRetryAfterMs;
        if (after !== undefined && after > max) throw new PullRequestError(request.url, 429, `rate limited for ${Math.round(after / 1000)} s, longer than the ${Math.round(max / 1000)} s a poll waits: the next poll tries again`);
        wait = after ?? wait;
        failure = new PullRequestError(request.url, 429, 'rate limited (429)');
      } else if (response.status >= 500) {
        failure = new PullRequestError(request.url, response.status, `answered ${response.status}`);
      } else {
        throw new PullRequestError(request.url, response.status, `answered ${response.status}${response.status === 401 || response.status === 403 ? ': check the source\'s credentials' : ''}`);
      }
    } catch (error) {
      if (error instanceof PullRequestError && error !== failure) throw error;
      if (!(error instanceof PullRequestError)) {
        const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
        failure = new PullRequestError(request.url, undefined, timedOut ? `no answer within ${options.timeoutMs ?? PULL_RETRY.timeoutMs} ms` : `failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (attempt < attempts) {
      options.onRetry?.(failure?.message ?? 'failed', wait);
      await sleep(wait);
    }
  }
  throw new PullRequestError(request.url, failure?.status, `${failure?.message.slice(request.url.length + 2) ?? 'failed'}, ${attempts} attempts`);
}
