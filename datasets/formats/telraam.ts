/**
 * Telraam's traffic reports (`POST /v1/reports/traffic`, per hour, per
 * road segment): each element of `report` is one reading of its segment.
 */
import { defineFormat } from './define.ts';

/** A Telraam traffic report's element: `segment_id`, `date` (UTC, the interval's start), counts per mode. */
export const telraamTraffic = defineFormat({
  id: 'telraam-traffic',
  title: 'Telraam traffic report (API v1, per hour or per quarter)',
  recognise: [{ path: 'report', is: 'array' }],
  items: [{ path: 'report' }],
  sensorId: 'segment_id',
  // Telraam's date opens the hour (or quarter) its counts cover; traffic_count's ts closes it.
  time: { path: 'date', zone: 'UTC', startOf: 'interval_s' },
  // The counts as Telraam extrapolates them, fractions included (traffic_count's counts are numbers: see the README).
  fields: {
    // Telraam names an hour's report "hourly" and a quarter's "quarterly".
    interval_s: { path: 'interval', values: { hourly: 3600, quarterly: 900 } },
    cars: { path: 'car' },
    bikes: { path: 'bike' },
    pedestrians: { path: 'pedestrian' },
    heavy_vehicles: { path: 'heavy' },
  },
  identity: 'sensor-time',
});
