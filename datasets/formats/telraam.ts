/**
 * Telraam's traffic reports (`POST /v1/reports/traffic`, per hour, per
 * road segment): each element of `report` is one reading of its segment.
 */
import { defineFormat } from './define.ts';

const MODES = { cars: 'car', bikes: 'bike', pedestrians: 'pedestrian', heavy_vehicles: 'heavy' } as const;

/**
 * Telraam extrapolates each hour's counts from the part of it the camera
 * saw (`uptime`), so they are fractional (106.4 cars). traffic_count keeps
 * whole road users: a count is rounded to the nearest whole one, well within
 * the extrapolation's own error, and the raw zone keeps Telraam's figures.
 */
function wholeCounts(item: unknown): Readonly<Record<string, unknown>> | string {
  const report = typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : {};
  const counts: Record<string, unknown> = {};
  for (const [field, key] of Object.entries(MODES)) {
    const value = report[key];
    if (value === undefined || value === null) return `${key} is missing`;
    if (typeof value !== 'number' || !Number.isFinite(value)) return `${key} must be a number, got ${JSON.stringify(value)}`;
    counts[field] = Math.round(value);
  }
  return counts;
}

/** A Telraam traffic report's element: `segment_id`, `date` (UTC), counts per mode. */
export const telraamTraffic = defineFormat({
  id: 'telraam-traffic',
  title: 'Telraam traffic report (API v1, per hour or per quarter)',
  recognise: [{ path: 'report', is: 'array' }],
  items: [{ path: 'report' }],
  sensorId: 'segment_id',
  time: { path: 'date', zone: 'UTC' },
  fields: {
    // Telraam names an hour's report "hourly" and a quarter's "quarterly".
    interval_s: { path: 'interval', values: { hourly: 3600, quarterly: 900 } },
  },
  compute: wholeCounts,
  identity: 'sensor-time',
});
