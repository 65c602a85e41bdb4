/**
 * IRCEL-CELINE's SOS timeseries API (52°North): a series holds one
 * pollutant of one station, named only in the series' metadata. The poller
 * delivers, per station and time, the series' metadata and each series'
 * value at that time (`getData` split by time, as served):
 * `{ station, timestamp, timeseries: [<metadata>], data: { <id>: { values: [{ timestamp, value }] } } }`.
 */
import { defineFormat } from './define.ts';

/** The EEA pollutant codes IRCEL-CELINE uses as phenomenon ids, by air_quality field. */
const PHENOMENA: Readonly<Record<string, string>> = { '5': 'pm10', '6001': 'pm25', '8': 'no2' };
const UNITS = new Set(['µg/m³', 'ug/m3']);

function object(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The station's pollutants at the payload's time, each from the series whose metadata names it. */
function pollutants(item: unknown): Readonly<Record<string, unknown>> | string {
  const payload = object(item);
  const series = Array.isArray(payload.timeseries) ? payload.timeseries : [];
  const data = object(payload.data);
  const found: Record<string, unknown> = {};
  for (const [i, entry] of series.entries()) {
    const meta = object(entry);
    const id = String(meta.id);
    const phenomenon = String(object(object(meta.parameters).phenomenon).id);
    const field = PHENOMENA[phenomenon];
    if (field === undefined) continue;
    if (typeof meta.uom === 'string' && !UNITS.has(meta.uom)) return `timeseries[${i}].uom must be µg/m³, got ${JSON.stringify(meta.uom)}`;
    const values = object(data[id]).values;
    const value = Array.isArray(values) ? object(values.find((v) => object(v).timestamp === payload.timestamp)).value : undefined;
    // IRCEL-CELINE serves a value it has not validated, or not measured, as null: that pollutant is missing then.
    if (typeof value === 'number') found[field] = value;
  }
  // NO2 is optional in air_quality; PM10 and PM2.5 are not.
  const missing = ['pm10', 'pm25'].filter((f) => !(f in found));
  if (missing.length > 0) return `data holds no value of ${missing.join(', ')} at timestamp ${String(payload.timestamp)} (a series per pollutant: phenomenon ids ${Object.keys(PHENOMENA).join(', ')})`;
  return found;
}

/** A station's IRCEL-CELINE series at one time. */
export const ircelineSos = defineFormat({
  id: 'irceline-sos',
  title: 'IRCEL-CELINE SOS timeseries (getData with the series metadata), per station and time',
  recognise: [
    { path: 'timeseries', is: 'array' },
    { path: 'data', is: 'object' },
    { path: 'timestamp', is: 'number' },
  ],
  sensorId: 'station',
  time: { path: 'timestamp', epoch: 'milliseconds' },
  fields: {},
  compute: pollutants,
  identity: 'sensor-time',
});
