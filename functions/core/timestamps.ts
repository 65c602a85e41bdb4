/**
 * Event times as microseconds since the epoch (UTC), the unit Parquet and
 * DuckDB store timestamps in. A JavaScript number holds them exactly until
 * the year 2255.
 */

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/;

/** Microseconds since the epoch of an ISO 8601 time with offset; undefined if it is not one. */
export function isoToMicros(text: string): number | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone, sign, oh, om] = m;
  const millis = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(millis)) return undefined;
  // Fractions beyond microseconds are truncated, as DuckDB does.
  const micros = frac === undefined ? 0 : Number(frac.slice(0, 6).padEnd(6, '0'));
  const offsetMinutes = zone === 'Z' ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  return (millis - offsetMinutes * 60_000) * 1000 + micros;
}

/** The UTC calendar date (YYYY-MM-DD) of a time in microseconds. */
export function microsToDate(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString().slice(0, 10);
}

/** ISO 8601 UTC text of a time in microseconds, with microsecond precision. */
export function microsToIso(micros: number): string {
  const millis = Math.floor(micros / 1000);
  const rest = micros - millis * 1000;
  const iso = new Date(millis).toISOString();
  return rest === 0 ? iso : `${iso.slice(0, 23)}${String(rest).padStart(3, '0')}Z`;
}
