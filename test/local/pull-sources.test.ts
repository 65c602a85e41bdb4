/**
 * Pull sources against a local HTTP server that serves recorded answers
 * (test/fixtures/pull), through the real local platform: overlapping polls
 * curate each reading once; errors, timeouts and rate limits are retried
 * and reported, never lost.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { definePullSource, type PullSource } from '../../datasets/index.ts';
import { TRANSFORM_DEFAULTS } from '../../functions/core/reading.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { startLocalPlatform, type LocalPlatform } from '../../local/runtime.ts';
import { quarantineRecords, tempDir } from '../helpers/fixtures.ts';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/pull');
const fixture = async (path: string): Promise<unknown> => JSON.parse(await readFile(join(FIXTURES, path), 'utf8'));
const HOUR = 3_600_000;
const T8 = Date.parse('2026-11-20T08:00:00Z');
const API_KEY = 'telraam-test-key';

/** What the server does with the next requests: answer, fail with a status, rate-limit, or never answer. */
type Fault = { status: number; retryAfter?: string } | 'hang';

interface RecordedServer {
  readonly url: string;
  readonly requests: { method: string; url: string; body: string; apiKey: string | undefined }[];
  /** Faults for the coming requests, in order; requests beyond them are answered. */
  readonly faults: Fault[];
  close(): Promise<void>;
}

async function recordedServer(): Promise<RecordedServer> {
  // By segment: 348917 is Telraam's published answer, any other the illustrative six hours.
  type Traffic = { report: { date: string }[] };
  const telraam = {
    recorded: (await fixture('telraam/traffic-348917.json')) as Traffic,
    illustrative: (await fixture('telraam/traffic.json')) as Traffic,
  };
  const records = await fixture('opendatasoft/records.json');
  const requests: RecordedServer['requests'] = [];
  const faults: Fault[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      void (async () => {
        const apiKey = typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : undefined;
        requests.push({ method: req.method ?? '', url: req.url ?? '', body, apiKey });
        const fault = faults.shift();
        if (fault === 'hang') {
          hanging.add(res);
          return;
        }
        if (fault) {
          res.writeHead(fault.status, { 'Content-Type': 'application/json', ...(fault.retryAfter ? { 'Retry-After': fault.retryAfter } : {}) });
          res.end(JSON.stringify({ message: 'recorded failure' }));
          return;
        }
        const url = new URL(req.url ?? '/', 'http://localhost');
        let answer: unknown;
        if (url.pathname === '/v1/reports/traffic') {
          if (apiKey !== API_KEY) {
            res.writeHead(403).end();
            return;
          }
          // Telraam answers the hours in [time_start, time_end).
          const asked = JSON.parse(body) as { id: string; time_start: string; time_end: string };
          const from = Date.parse(asked.time_start.replace(' ', 'T'));
          const to = Date.parse(asked.time_end.replace(' ', 'T'));
          const recorded = asked.id === '348917' ? telraam.recorded : telraam.illustrative;
          answer = { ...recorded, report: recorded.report.filter((r) => Date.parse(r.date) >= from && Date.parse(r.date) < to) };
        } else if (url.pathname.startsWith('/sos/timeseries/')) {
          const [, , , id, getData] = url.pathname.split('/');
          answer = await fixture(`irceline/${getData ? 'getData' : 'timeseries'}-${id}.json`);
        } else if (url.pathname === '/ods/records') {
          answer = records;
        } else {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer));
      })();
    });
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    faults,
    close: async () => {
      for (const res of hanging) res.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A platform polling only when told, retrying fast, accepting readings of 2026-11-20. */
async function platformFor(sources: PullSource[], clock: { now: number }, lines: string[]): Promise<{ platform: LocalPlatform; dataDir: string }> {
  const dataDir = await tempDir();
  await mkdir(join(dataDir, 'state', 'secrets'), { recursive: true });
  await writeFile(join(dataDir, 'state', 'secrets', 'test-telraam'), `${API_KEY}\n`);
  const platform = await startLocalPlatform({
    dataDir,
    port: 0,
    simulate: false,
    http: false,
    buffering: { maxAgeMs: 100 },
    policy: { ...TRANSFORM_DEFAULTS, maxLatenessDays: 36_500 },
    log: (line) => lines.push(line),
    pull: { sources, schedule: false, now: () => clock.now, retry: { attempts: 3, backoffMs: 10, timeoutMs: 500, maxRetryAfterMs: 5_000 } },
  });
  return { platform, dataDir };
}

async function query(dataDir: string, sql: string): Promise<readonly (readonly unknown[])[]> {
  const engine = await LocalQueryEngine.open(dataDir);
  try {
    return (await engine.query(sql)).rows;
  } finally {
    engine.close();
  }
}

/** A Telraam pull source for one segment, polling the recorded server hourly with a 3-hour overlap. */
function recordedTelraam(serverUrl: string, title: string, segment: string) {
  return definePullSource({
    id: 'test-telraam',
    title,
    datasetId: 'traffic_count',
    format: 'telraam-traffic',
    protocol: 'telraam',
    url: `${serverUrl}/v1/reports/traffic`,
    schedule: 'PT1H',
    overlap: 'PT3H',
    lookback: 'PT6H',
    ids: [segment],
    credentials: { header: 'X-Api-Key', secret: 'test-telraam' },
  });
}

describe('pull sources, against recorded answers', () => {
  it('curates each Telraam reading once over three overlapping polls, and retries a 500, a timeout and a 429', async () => {
    const server = await recordedServer();
    cleanups.push(() => server.close());
    const telraam = recordedTelraam(server.url, 'Telraam, recorded', '9000001463');
    const clock = { now: T8 + 2.5 * HOUR };
    const lines: string[] = [];
    const { platform, dataDir } = await platformFor([telraam], clock, lines);
    const puller = platform.puller;
    if (!puller) throw new Error('no puller');

    // Poll 1 (to 10:30): a 500 first, then the answer: 08:00, 09:00, 10:00.
    server.faults.push({ status: 500 });
    const first = await puller.poll('test-telraam');
    expect(first).toMatchObject({ payloads: 1, fresh: 3, known: 0 });
    // Poll 2 (to 12:30, from 10:00 less 3 h): no answer at first, then 08:00 to 12:00, two of them new.
    clock.now = T8 + 4.5 * HOUR;
    server.faults.push('hang');
    const second = await puller.poll('test-telraam');
    expect(second).toMatchObject({ payloads: 1, fresh: 2, known: 3, window: { from: T8 - HOUR, to: clock.now } });
    // Poll 3 (to 14:00): rate-limited for a second, then 09:00 to 13:00, one new.
    clock.now = T8 + 6 * HOUR;
    server.faults.push({ status: 429, retryAfter: '1' });
    const third = await puller.poll('test-telraam');
    expect(third).toMatchObject({ payloads: 1, fresh: 1, known: 4 });
    // Poll 4 fails for good (500 three times): reported and counted, its cursor kept.
    server.faults.push({ status: 500 }, { status: 500 }, { status: 500 });
    expect(await puller.poll('test-telraam')).toBeUndefined();
    // Poll 5 answers the same window again: nothing new, nothing written.
    const fifth = await puller.poll('test-telraam');
    expect(fifth).toMatchObject({ payloads: 0, fresh: 0, known: 4 });
    expect(puller.stats().get('test-telraam')).toEqual({ polls: 5, failures: 1, retries: 5, payloads: 3, fresh: 6 });
    expect(server.requests.every((r) => r.apiKey === API_KEY)).toBe(true);
    expect(JSON.parse(server.requests[0]?.body ?? '{}')).toEqual({ level: 'segments', format: 'per-hour', id: '9000001463', time_start: '2026-11-20 04:30:00Z', time_end: '2026-11-20 10:30:00Z' });
    const summary = await platform.stop();

    expect(lines.filter((l) => l.startsWith('pull test-telraam: '))).toEqual([
      expect.stringMatching(/answered 500; trying again in/),
      expect.stringMatching(/no answer within 500 ms; trying again in/),
      expect.stringMatching(/rate limited \(429\); trying again in 1 s/),
      expect.stringMatching(/answered 500; trying again in/),
      expect.stringMatching(/answered 500; trying again in/),
    ]);
    expect(lines.filter((l) => l.startsWith('pull test-telraam failed: '))).toEqual([expect.stringMatching(/answered 500, 3 attempts; its cursor stays/)]);
    // Three raw payloads held 3 + 5 + 5 readings; those seen before are duplicates.
    expect(summary.datasets.traffic_count).toEqual({ received: 13, duplicates: 7, curated: 6, quarantined: 0 });
    const rows = await query(
      dataDir,
      "SELECT sensor_id, strftime(ts AT TIME ZONE 'UTC', '%H:%M'), interval_s, cars, bikes, pedestrians, heavy_vehicles, format FROM traffic_count ORDER BY ts",
    );
    // Each hour's counts end up at the hour's end: Telraam's date 08:00 is ts 09:00.
    expect(rows).toEqual([
      ['9000001463', '09:00', 3600, 106.4, 34.6, 12.8, 4.49, 'telraam-traffic'],
      ['9000001463', '10:00', 3600, 151.2, 52.1, 20.3, 6.1, 'telraam-traffic'],
      ['9000001463', '11:00', 3600, 120, 41.7, 18.9, 5.55, 'telraam-traffic'],
      ['9000001463', '12:00', 3600, 98.6, 38.2, 25.4, 3.2, 'telraam-traffic'],
      ['9000001463', '13:00', 3600, 134.9, 45, 30.1, 4, 'telraam-traffic'],
      ['9000001463', '14:00', 3600, 160.3, 60.6, 22.2, 7.9, 'telraam-traffic'],
    ]);
    const cursor = JSON.parse(await readFile(join(dataDir, 'state', 'pull', 'test-telraam.json'), 'utf8'));
    expect(cursor).toMatchObject({ cursor: T8 + 5 * HOUR, polls: 4, failures: 1, payloads: 3, lastError: expect.stringMatching(/answered 500/) });
  });

  it('curates Telraam\'s published answer field by field: fractional counts, each hour at its end', async () => {
    const server = await recordedServer();
    cleanups.push(() => server.close());
    const telraam = recordedTelraam(server.url, 'Telraam, published answer', '348917');
    const clock = { now: Date.parse('2020-10-30T10:00:00Z') };
    const { platform, dataDir } = await platformFor([telraam], clock, []);
    expect(await platform.puller?.poll('test-telraam')).toMatchObject({ payloads: 1, fresh: 2, known: 0 });
    expect(JSON.parse(server.requests[0]?.body ?? '{}')).toMatchObject({ id: '348917', time_start: '2020-10-30 04:00:00Z', time_end: '2020-10-30 10:00:00Z' });
    const summary = await platform.stop();
    expect(summary.datasets.traffic_count).toEqual({ received: 2, duplicates: 0, curated: 2, quarantined: 0 });
    const rows = await query(
      dataDir,
      "SELECT sensor_id, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'), interval_s, cars, bikes, pedestrians, heavy_vehicles, format FROM traffic_count ORDER BY ts",
    );
    // date 07:00 and 08:00 (the hours' starts) become ts 08:00 and 09:00; car, bike, pedestrian and heavy as served.
    expect(rows).toEqual([
      ['348917', '2020-10-30 08:00', 3600, 619.1780821918, 263.0136986301, 72.602739726, 78.0821917808, 'telraam-traffic'],
      ['348917', '2020-10-30 09:00', 3600, 462.5987078248, 95.6209619526, 14.2139267767, 64.6087580761, 'telraam-traffic'],
    ]);
  });

  it('joins an IRCEL-CELINE station\'s series into one reading per hour, and quarantines the hour a series has no value', async () => {
    const server = await recordedServer();
    cleanups.push(() => server.close());
    const irceline = definePullSource({
      id: 'test-irceline',
      title: 'IRCEL-CELINE, recorded',
      datasetId: 'air_quality',
      format: 'irceline-sos',
      protocol: 'irceline-sos',
      url: `${server.url}/sos`,
      schedule: 'PT1H',
      overlap: 'PT3H',
      lookback: 'PT6H',
      station: '44R701',
      ids: ['6152', '6153', '6154'],
    });
    const clock = { now: T8 + 6 * HOUR };
    const { platform, dataDir } = await platformFor([irceline], clock, []);
    expect(await platform.puller?.poll('test-irceline')).toMatchObject({ payloads: 6, fresh: 18 });
    expect(server.requests.map((r) => r.url)).toEqual(
      ['6152', '6153', '6154'].flatMap((id) => [`/sos/timeseries/${id}`, `/sos/timeseries/${id}/getData?timespan=${encodeURIComponent('2026-11-20T08:00:00.000Z/2026-11-20T14:00:00.000Z')}`]),
    );
    const summary = await platform.stop();
    expect(summary.datasets.air_quality).toEqual({ received: 6, duplicates: 0, curated: 5, quarantined: 1 });
    const rows = await query(dataDir, "SELECT sensor_id, strftime(ts AT TIME ZONE 'UTC', '%H:%M'), pm10, pm25, no2, format FROM air_quality ORDER BY ts");
    expect(rows).toEqual([
      ['44R701', '08:00', 21.5, 11, 31.2, 'irceline-sos'],
      ['44R701', '09:00', 24, 13.5, 35.8, 'irceline-sos'],
      ['44R701', '10:00', 19.5, 9.5, 28.4, 'irceline-sos'],
      ['44R701', '12:00', 18, 7.5, 24.9, 'irceline-sos'],
      ['44R701', '13:00', 22.5, 12, 30.3, 'irceline-sos'],
    ]);
    const reasons = (await quarantineRecords(dataDir)).map((r) => r.reason);
    expect(reasons).toEqual([expect.stringMatching(/^data holds no value of pm10 at timestamp 1795172400000/)]);
  });

  it('pages Gent\'s parking records from Opendatasoft, curating each car park under an id made of its name', async () => {
    const server = await recordedServer();
    cleanups.push(() => server.close());
    const parking = definePullSource({
      id: 'test-parking',
      title: 'Opendatasoft, recorded',
      datasetId: 'parking_occupancy',
      format: 'opendatasoft-parking',
      protocol: 'opendatasoft',
      url: `${server.url}/ods/records`,
      schedule: 'PT5M',
      overlap: 'PT15M',
      lookback: 'PT6H',
    });
    const { platform, dataDir } = await platformFor([parking], { now: T8 + 3 * HOUR }, []);
    expect(await platform.puller?.poll('test-parking')).toMatchObject({ payloads: 1, fresh: 3 });
    expect(await platform.puller?.poll('test-parking')).toMatchObject({ payloads: 0, fresh: 0, known: 3 });
    expect(server.requests.map((r) => r.url)).toEqual(['/ods/records?limit=100&offset=0', '/ods/records?limit=100&offset=0']);
    await platform.stop();
    const rows = await query(dataDir, "SELECT sensor_id, strftime(ts AT TIME ZONE 'UTC', '%H:%M:%S'), free_spaces, total_spaces FROM parking_occupancy ORDER BY sensor_id");
    expect(rows).toEqual([
      ['P-R-Bourgoyen', '09:19:58', 331, 400],
      ['Sint-Michiels', '09:20:04', 49, 304],
      ['Vrijdagmarkt', '09:20:04', 212, 648],
    ]);
    expect(await quarantineRecords(dataDir)).toEqual([]);
  });
});
