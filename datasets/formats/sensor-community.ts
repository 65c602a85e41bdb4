/**
 * sensor.community (luftdaten.info) citizen sensors: the API's records
 * (`data.sensor.community/static/v1/data.json`: `sensor.id`, a UTC
 * `timestamp` without zone) and the firmware's "send to own API" push
 * (`esp8266id`, no time: it is sent as measured, so its arrival time is its
 * time). Values are text in `sensordatavalues[]`, by `value_type`; the push
 * prefixes them with the sensor model (SDS_P1).
 */
import { defineFormat, type FieldSource, type FormatDeclaration } from './define.ts';

/** The format id. */
export const SENSOR_COMMUNITY_FORMAT = 'sensor-community';

/** The models whose push prefixes a particulate value type (SDS_P1, PMS_P2, ...). */
const PM_MODELS = ['SDS', 'PMS', 'HPM', 'SPS30', 'NPM', 'IPS'];

/** The value types a field reads, with the push's prefixed spellings of a particulate one. */
export function valueTypes(type: string, prefixes: readonly string[] = PM_MODELS): string[] {
  return [type, ...prefixes.map((p) => `${p}_${type}`)];
}

/** The sensor.community format of a dataset: per field, the value types it reads (first present wins). */
export function sensorCommunity(fields: Readonly<Record<string, readonly string[]>>): FormatDeclaration {
  const mapped: Record<string, FieldSource> = {};
  for (const [name, types] of Object.entries(fields)) {
    mapped[name] = { path: types.map((t) => `sensordatavalues[value_type=${t}].value`), numberText: true };
  }
  return defineFormat({
    id: SENSOR_COMMUNITY_FORMAT,
    title: 'sensor.community (luftdaten) API record or push',
    recognise: [{ path: 'sensordatavalues', is: 'array' }],
    sensorId: ['sensor.id', 'esp8266id'],
    time: { path: 'timestamp', zone: 'UTC', orArrival: true },
    fields: mapped,
  });
}
