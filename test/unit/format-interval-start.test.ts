/**
 * A format whose time opens an interval (Telraam's `date`): the reading's
 * time is the interval's end, by the interval's own length.
 */
import { describe, expect, it } from 'vitest';
import { checkFormats } from '../../datasets/formats/check.ts';
import { defineFormat } from '../../datasets/formats/define.ts';
import { trafficCount } from '../../datasets/traffic-count.ts';
import { mapPayload } from '../../functions/core/formats.ts';

const envelope = { messageId: 'm1', sensorId: 'telraam', receivedAt: '2020-10-30T10:00:00.000Z', via: 'pull:telraam', format: 'telraam-traffic' };
const report = (element: Record<string, unknown>) => ({ status_code: 200, message: 'ok', report: [{ segment_id: 348917, date: '2020-10-30T07:00:00.000Z', car: 619.1780821918, ...element }] });

describe('a time that opens an interval', () => {
  it('moves an hour to its end and a quarter to its end, and refuses an element whose interval is unknown, naming it', () => {
    const mapped = [report({ interval: 'hourly' }), report({ interval: 'quarterly' }), report({ interval: 'daily' })].map((p) => mapPayload(trafficCount, envelope, p)[0]);
    expect(mapped[0]).toMatchObject({ ok: true, sensorId: '348917', reading: { ts: '2020-10-30T08:00:00.000Z', interval_s: 3600, cars: 619.1780821918 } });
    expect(mapped[1]).toMatchObject({ ok: true, reading: { ts: '2020-10-30T07:15:00.000Z', interval_s: 900 } });
    expect(mapped[2]).toMatchObject({ ok: false, reason: 'interval must be one of "hourly", "quarterly", got string "daily"' });
    // The same hour fetched again is the same reading: its identity is its sensor and its (moved) time.
    expect(mapPayload(trafficCount, { ...envelope, messageId: 'm2' }, report({ interval: 'hourly' }))[0]?.messageId).toBe(mapped[0]?.messageId);
  });

  it('is refused in a declaration unless it names a mapped field in seconds', () => {
    const fields = [
      { name: 'ts', kind: 'time', required: true },
      { name: 'interval_s', kind: 'int', required: true, unit: 's' },
      { name: 'cars', kind: 'number', required: false, unit: 'count' },
    ];
    const declare = (startOf: string, mapped: Record<string, { path: string }>) =>
      checkFormats([defineFormat({ id: 'probe', title: 'Probe', recognise: [{ path: 'date' }], sensorId: 'id', time: { path: 'date', startOf }, fields: mapped })], fields);
    const both = { interval_s: { path: 'length' }, cars: { path: 'car' } };
    expect(declare('cars', both)).toBe('format "probe": time.startOf "cars" must be a field in seconds that the format maps');
    expect(declare('interval_s', { cars: { path: 'car' } })).toBe('format "probe": time.startOf "interval_s" must be a field in seconds that the format maps');
    expect(declare('interval_s', both)).toBeUndefined();
  });
});
