import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { registry } from '../../datasets/index.ts';
import { LocalQueryEngine } from '../../local/query.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import { quarantineRecords, tempDir } from '../helpers/fixtures.ts';

describe('the local platform, end to end over real MQTT', () => {
  it('turns publishes into SQL answers, quarantines bad ones with reasons, removes redeliveries', async () => {
    const dataDir = await tempDir();
    const platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, buffering: { maxAgeMs: 200 }, log: () => {} });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'aq-e2e' });
    const now = brusselsIso(new Date());
    const good = (pm25: number) => JSON.stringify({ ts: now, pm25, pm10: 20, no2: 31 });
    await client.publishAsync('datastroom/air_quality/aq-e2e', good(10), { qos: 1 });
    await client.publishAsync('datastroom/air_quality/aq-e2e', good(11), { qos: 1 });
    // The same message twice, as a QoS 1 redelivery arrives.
    await client.publishAsync('datastroom/air_quality/aq-e2e', good(12), { qos: 1 });
    await client.publishAsync('datastroom/air_quality/aq-e2e', good(12), { qos: 1 });
    await client.publishAsync('datastroom/air_quality/aq-e2e', JSON.stringify([JSON.parse(good(13)), JSON.parse(good(14))]), { qos: 1 });
    await client.publishAsync('datastroom/air_quality/aq-e2e', JSON.stringify({ ts: now, pm25: '12,5', pm10: 20, no2: 31 }), { qos: 1 });
    await client.publishAsync('datastroom/air_quality/aq-e2e', '{"ts": oops', { qos: 0 });
    await client.publishAsync('datastroom/anpr_passage/cam-1', JSON.stringify({ ts: now, direction: 'in', lane: 1, plate: '1-ABC-123', confidence: 0.9 }), { qos: 1 });
    await client.publishAsync('datastroom/no_such_dataset/x', '{"a":1}', { qos: 1 });
    await client.publishAsync('somewhere/else', 'not ours', { qos: 1 });
    await client.endAsync();
    const summary = await platform.stop();

    expect(summary.datasets.air_quality).toEqual({ received: 8, duplicates: 1, curated: 5, quarantined: 2 });
    expect(summary.datasets.anpr_passage).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });
    expect(summary).toMatchObject({ unrouted: 1, received: 10, curated: 6, quarantined: 3, duplicates: 1, published: 0 });

    const engine = await LocalQueryEngine.open(dataDir);
    const answer = await engine.query('SELECT count(*) AS n, sum(pm25) AS total FROM air_quality');
    const hourly = await engine.query('SELECT sum(readings) AS n FROM air_quality_hourly');
    const plates = await engine.query('SELECT plate FROM anpr_passage');
    engine.close();
    expect(answer.rows).toEqual([[5, 10 + 11 + 12 + 13 + 14]]);
    expect(hourly.rows).toEqual([[5]]);
    expect(plates.rows[0]?.[0]).toMatch(/^[0-9a-f]{64}$/);

    const reasons = (await quarantineRecords(dataDir)).map((r) => r.reason);
    expect(reasons).toHaveLength(3);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'pm25 must be a number, got string "12,5"',
        expect.stringMatching(/^payload is not valid JSON/),
        'topic "datastroom/no_such_dataset/x" names no dataset: publish to datastroom/<dataset>/<sensorId>',
      ]),
    );
  });

  it('runs the demo fleet: every dataset curated, every reading accounted for', async () => {
    const dataDir = await tempDir();
    const platform = await startLocalPlatform({
      dataDir,
      port: 0,
      simulator: { sensors: 14, intervalMs: 50, seed: 42, malformedShare: 0.1, duplicateShare: 0.05 },
      buffering: { maxAgeMs: 300 },
      log: () => {},
    });
    await new Promise((r) => setTimeout(r, 2500));
    const summary = await platform.stop();
    expect(summary.published).toBeGreaterThan(200);
    expect(summary.received).toBe(summary.published);
    expect(summary.received).toBe(summary.curated + summary.quarantined + summary.duplicates);
    expect(summary.quarantined).toBeGreaterThan(0);
    const engine = await LocalQueryEngine.open(dataDir);
    for (const dataset of registry) {
      const counts = summary.datasets[dataset.id]!;
      expect(counts.curated, dataset.id).toBeGreaterThan(0);
      const { rows } = await engine.query(`SELECT count(*) FROM ${dataset.id}`);
      expect(rows[0]?.[0], dataset.id).toBe(counts.curated);
    }
    engine.close();
  });
});
