/**
 * The pure parts of ingress: push paths and credentials, integration
 * topics, Retry-After, and the splitting of answers too large for one raw
 * payload.
 */
import { describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES } from '../../functions/core/envelope.ts';
import {
  isIntegrationRuleName,
  isJsonMediaType,
  parseIntegrationTopic,
  parsePushPath,
  pushAuthorization,
  pushCredentials,
} from '../../functions/core/integrations.ts';
import { fetchJsonWithRetry, retryAfterMs, splitPage, PullRequestError } from '../../functions/core/pull.ts';

describe('push paths and credentials', () => {
  it('reads /ingest/<dataset>[/<format>] and nothing else', () => {
    expect(parsePushPath('/ingest/air_quality')).toEqual({ datasetId: 'air_quality' });
    expect(parsePushPath('/ingest/air_quality/ttn-v3?x=1')).toEqual({ datasetId: 'air_quality', format: 'ttn-v3' });
    for (const path of ['/ingest', '/ingest/', '/ingest/a/', '/ingest/a/b/c', '/other/a', 'ingest/a']) expect(parsePushPath(path), path).toBeUndefined();
  });

  it('takes Basic and Bearer name:secret, a secret holding colons included, and refuses the rest', () => {
    expect(pushCredentials(pushAuthorization('ttn-app1', 's3:cr:et'))).toEqual({ name: 'ttn-app1', secret: 's3:cr:et' });
    expect(pushCredentials('Bearer ttn-app1:secret')).toEqual({ name: 'ttn-app1', secret: 'secret' });
    expect(pushCredentials('bearer  ttn-app1:secret ')).toEqual({ name: 'ttn-app1', secret: 'secret' });
    for (const header of [undefined, '', 'Bearer secret', 'Bearer :secret', 'Bearer name:', 'Digest x', `Basic ${Buffer.from('nocolon').toString('base64')}`]) {
      expect(pushCredentials(header), String(header)).toBeUndefined();
    }
  });

  it('takes JSON and +json media types only', () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/ld+json']) expect(isJsonMediaType(type), type).toBe(true);
    for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) expect(isJsonMediaType(type), String(type)).toBe(false);
  });

  it('tells integration topics and rules from devices\'', () => {
    expect(parseIntegrationTopic('datastroom/integrations/air_quality/gw-1')).toEqual({ datasetId: 'air_quality', integration: 'gw-1' });
    expect(parseIntegrationTopic('datastroom/air_quality/gw-1')).toBeUndefined();
    expect(isIntegrationRuleName('datastroom_prod_air_quality_integrations', 'air_quality')).toBe(true);
    expect(isIntegrationRuleName('datastroom_prod_air_quality', 'air_quality')).toBe(false);
    expect(isIntegrationRuleName('datastroom_prod_noise_integrations', 'air_quality')).toBe(false);
  });
});

describe('pull answers', () => {
  it('reads Retry-After in seconds or as an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('Sun, 29 Nov 2026 10:00:30 GMT', Date.parse('2026-11-29T10:00:00Z'))).toBe(30_000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });

  it('splits an answer over 128 KB along its readings, each part keeping the rest of the answer and under the limit', () => {
    const report = Array.from({ length: 300 }, (_, i) => ({ segment_id: 1, date: new Date(Date.UTC(2026, 10, 1) + i * 3_600_000).toISOString(), pad: 'x'.repeat(1000) }));
    const page = { payload: { status_code: 200, message: 'ok', report }, items: report.map((r) => ({ key: r.date, ts: Date.parse(r.date) })) };
    const parts = splitPage(page);
    expect(parts.length).toBeGreaterThan(2);
    for (const part of parts) {
      expect(Buffer.byteLength(part.text)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
      const parsed = JSON.parse(part.text) as { status_code: number; message: string; report: { date: string }[] };
      expect(parsed).toMatchObject({ status_code: 200, message: 'ok' });
      expect(part.items.map((i) => i.key)).toEqual(parsed.report.map((r) => r.date));
    }
    expect(parts.flatMap((p) => (JSON.parse(p.text) as { report: unknown[] }).report)).toEqual(report);
  });

  it('fails at once on a 4xx other than 429, naming the credentials on 401 and 403, and gives up after its attempts on 5xx', async () => {
    let calls = 0;
    const answering = (status: number) => async () => {
      calls += 1;
      return new Response('{}', { status });
    };
    const request = { method: 'GET' as const, url: 'http://api.test/x', headers: {} };
    await expect(fetchJsonWithRetry(request, { fetch: answering(403), sleep: async () => undefined })).rejects.toThrow("http://api.test/x: answered 403: check the source's credentials");
    expect(calls).toBe(1);
    calls = 0;
    const waits: number[] = [];
    const failing = fetchJsonWithRetry(request, { fetch: answering(503), backoffMs: 100, sleep: async (ms) => void waits.push(ms) });
    await expect(failing).rejects.toBeInstanceOf(PullRequestError);
    await expect(failing).rejects.toThrow('http://api.test/x: answered 503, 4 attempts');
    expect(calls).toBe(4);
    expect(waits).toEqual([100, 200, 400]);
  });
});
