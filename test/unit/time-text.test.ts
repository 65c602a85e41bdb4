/**
 * The time text of vendor formats: the shapes sensors send are read without
 * the general parser, and must read exactly as it does, including what it
 * refuses.
 */
import { describe, expect, it } from 'vitest';
import { timeTextToMicros } from '../../functions/core/formats.ts';

const micros = (iso: string, extra = 0) => Date.parse(iso) * 1000 + extra;

describe('timeTextToMicros', () => {
  it('reads offsets, Z, a space for T, seconds left out, and truncates fractions to microseconds', () => {
    expect(timeTextToMicros('2026-11-29T10:00:00.123456789+01:00', 'UTC')).toBe(micros('2026-11-29T09:00:00.123Z', 456));
    expect(timeTextToMicros('2026-11-29T10:00:00,5-05:30', 'UTC')).toBe(micros('2026-11-29T15:30:00.500Z'));
    expect(timeTextToMicros('2026-11-29 10:00z', 'UTC')).toBe(micros('2026-11-29T10:00:00Z'));
    expect(timeTextToMicros('2026-11-29T10:00:00+0100', 'UTC')).toBe(micros('2026-11-29T09:00:00Z'));
    expect(timeTextToMicros('2026-11-29T10:00:00+01', 'UTC')).toBe(micros('2026-11-29T09:00:00Z'));
    expect(timeTextToMicros('2026-11-29T10:00:00.9999999999999999999999Z', 'UTC')).toBe(micros('2026-11-29T10:00:00.999Z', 999));
    expect(timeTextToMicros('2024-02-29T00:00:00Z', 'UTC')).toBe(micros('2024-02-29T00:00:00Z'));
  });

  it('reads a time without offset as wall-clock time in the zone, summer and winter', () => {
    expect(timeTextToMicros('2026-11-29T10:00:00', 'Europe/Brussels')).toBe(micros('2026-11-29T09:00:00Z'));
    expect(timeTextToMicros('2026-07-01T10:00:00.25', 'Europe/Brussels')).toBe(micros('2026-07-01T08:00:00.250Z'));
    expect(timeTextToMicros('2026-07-01T10:00', 'UTC')).toBe(micros('2026-07-01T10:00:00Z'));
  });

  it('reads surrounding whitespace as the general reading does', () => {
    expect(timeTextToMicros(' 2026-11-29T10:00:00Z ', 'UTC')).toBe(micros('2026-11-29T10:00:00Z'));
    expect(timeTextToMicros('2026-11-29T10:00:00 Z', 'UTC')).toBe(micros('2026-11-29T10:00:00Z'));
  });

  it.each([
    '2026-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-11-29T24:00:00Z',
    '2026-11-29T10:60:00Z',
    '2026-11-29T10:00:60Z',
    '2026-11-29T10:00:00+01:60',
    '2026-11-29T10:00:00+01:',
    '2026-11-29T10:00:00.Z',
    '2026-11-29T10:00:0Z',
    '2026-11-29T10:00.5Z',
    '2026-11-29t10:00:00Z',
    '2026-11-29T10:00:00Zx',
    // The general reading takes the years 0 to 99 through Date.UTC, which knows no 29 February of year 0.
    '0000-02-29T00:00:00Z',
    'nonsense',
    '',
  ])('refuses %j', (text) => {
    expect(timeTextToMicros(text, 'UTC')).toBeUndefined();
  });
});
