/**
 * Event times as microseconds since the epoch (UTC), the unit Parquet and
 * DuckDB store timestamps in. A JavaScript number holds them exactly from
 * 1684 to 2255.
 */

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * The instants a curated time may hold, from the first (inclusive) to the end
 * (exclusive): those whose microseconds a JavaScript number holds exactly
 * (1684-07-28 to 2255-06-05 UTC), so the reference judge and DuckDB store
 * the same value. Earlier or later event times are a broken clock.
 */
export const FIRST_INSTANT_MICROS = -Number.MAX_SAFE_INTEGER;
export const END_INSTANT_MICROS = Number.MAX_SAFE_INTEGER + 1;

/** The instant range as readers see it in a reason. */
export const INSTANT_RANGE_TEXT = `${new Date(Math.ceil(FIRST_INSTANT_MICROS / 1000)).toISOString().slice(0, 10)} to ${new Date(Math.floor(END_INSTANT_MICROS / 1000)).toISOString().slice(0, 10)} UTC`;

/** Microseconds since the epoch of an ISO 8601 time with offset; undefined if it is not one. */
export function isoToMicros(text: string): number | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone, sign, oh, om] = m;
  // Date.UTC reads the years 0 to 99 as 1900 to 1999; setUTCFullYear takes every year as written.
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), 0);
  const millis = date.getTime();
  if (Number.isNaN(millis)) return undefined;
  // Fractions beyond microseconds are truncated, as DuckDB does.
  const micros = frac === undefined ? 0 : Number(frac.slice(0, 6).padEnd(6, '0'));
  const offsetMinutes = zone === 'Z' ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  return (millis - offsetMinutes * 60_000) * 1000 + micros;
}

/** Whether an instant lies in the range both engines store exactly (see {@link FIRST_INSTANT_MICROS}). */
export function inInstantRange(micros: number): boolean {
  return micros >= FIRST_INSTANT_MICROS && micros < END_INSTANT_MICROS;
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
