/**
 * The partition projection's dt range against the lake's age: a query
 * without a dt filter lists one S3 prefix per projected day, and Athena asks
 * for "a range that matches your data as closely as possible". With the
 * lake's start date in context, a young lake projects only the days that can
 * hold data; no day that can hold data is ever left out.
 */
import { describe, expect, it } from 'vitest';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { registry, type Dataset } from '../../datasets/index.ts';
import { TRANSFORM_DEFAULTS } from '../../functions/core/reading.ts';
import { curatedProjectionRange, rawProjectionRange } from '../../glue/tables.ts';
import { CONFIG_DEFAULTS, ConfigError, readConfig } from '../../infra/config.ts';
import { DatastroomStack } from '../../infra/stacks/datastroom-stack.ts';
import { testApp } from '../helpers/stack.ts';

const DAY = 86_400_000;
const today = new Date('2026-11-29T15:42:00Z');
const dayOf = (date: Date) => Math.floor(date.getTime() / DAY);
const isoDay = (day: number) => new Date(day * DAY).toISOString().slice(0, 10);
const lateness = TRANSFORM_DEFAULTS.maxLatenessDays;
const ahead = Math.ceil(TRANSFORM_DEFAULTS.futureToleranceSeconds / 86_400);

/** The first and last day a range projects when queried on `queryDay`, as Athena reads it (fixed dates or NOW±nDAYS). */
function projectedDays(range: string, queryDay: number): { first: number; last: number; count: number } {
  const [first, last] = range.split(',').map((end) => {
    const relative = /^NOW(?:([+-])(\d+)DAYS)?$/.exec(end);
    if (relative) return queryDay + (relative[1] === '-' ? -1 : 1) * Number(relative[2] ?? 0);
    expect(end).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    return dayOf(new Date(`${end}T00:00:00Z`));
  }) as [number, number];
  return { first, last, count: last - first + 1 };
}

function tableRanges(context: Record<string, unknown>): Map<string, string> {
  const app = testApp(context);
  const stack = new DatastroomStack(app, 'Test', { config: readConfig(app.node, today), today });
  const tables = Template.fromStack(stack).findResources('AWS::Glue::Table');
  return new Map(
    Object.values(tables).flatMap((t) => {
      const input = (t.Properties as { TableInput: { Name: string; Parameters: Record<string, string> } }).TableInput;
      const range = input.Parameters['projection.dt.range'];
      return range === undefined ? [] : [[input.Name, range] as const];
    }),
  );
}

describe('the partition projection at the first deploy (lakeStart = the deploy’s date)', () => {
  const ranges = tableRanges({ lakeStart: isoDay(dayOf(today)) });

  it.each(registry.map((d) => [d.id, d] as const))('of %s lists the days a late or early reading can land in, and no more', (id) => {
    const curated = projectedDays(ranges.get(id)!, dayOf(today));
    // A reading may arrive up to maxLatenessDays late, or a day early: those days, today, and nothing older.
    expect(curated).toEqual({ first: dayOf(today) - lateness, last: dayOf(today) + ahead, count: lateness + 1 + ahead });
    expect(projectedDays(ranges.get(`${id}_raw`)!, dayOf(today))).toEqual({ first: dayOf(today), last: dayOf(today), count: 1 });
  });

  it('lists far fewer days than the retention windows alone', () => {
    const unset = tableRanges({});
    for (const d of registry) {
      expect(projectedDays(unset.get(d.id)!, dayOf(today)).count).toBe(d.retention.curatedDays + lateness + 1 + ahead);
      expect(projectedDays(ranges.get(d.id)!, dayOf(today)).count).toBeLessThanOrEqual(lateness + 1 + ahead);
    }
  });
});

describe('the partition projection as the lake ages', () => {
  const ages = (d: Dataset) => [0, 1, 30, d.retention.rawDays, d.retention.rawDays + 1, d.retention.curatedDays, d.retention.curatedDays + 1, d.retention.curatedDays + 500];

  it.each(registry.map((d) => [d.id, d] as const))('of %s starts at the oldest day that can hold data, whenever it is synthesized and queried', (_id, d) => {
    for (const age of ages(d)) {
      const start = dayOf(today) - age;
      const clock = { lakeStart: isoDay(start), today };
      // Queried on the synth's day and up to two years later (a later deploy may never come).
      for (const later of [0, 1, 90, 730]) {
        const queryDay = dayOf(today) + later;
        const curated = projectedDays(curatedProjectionRange(d, TRANSFORM_DEFAULTS, clock), queryDay);
        const oldestCurated = Math.max(start - lateness, queryDay - d.retention.curatedDays - lateness);
        expect({ age, later, first: curated.first <= oldestCurated, last: curated.last }).toEqual({ age, later, first: true, last: queryDay + ahead });
        // On the synth's day the range is exact: not a day before data can exist.
        if (later === 0) expect({ age, first: curated.first }).toEqual({ age, first: oldestCurated });

        const raw = projectedDays(rawProjectionRange(d, clock), queryDay);
        const oldestRaw = Math.max(start, queryDay - d.retention.rawDays);
        expect({ age, later, first: raw.first <= oldestRaw, last: raw.last }).toEqual({ age, later, first: true, last: queryDay });
        if (later === 0) expect({ age, first: raw.first }).toEqual({ age, first: oldestRaw });
      }
    }
  });

  it('takes the relative form once the lake is older than the window, so it follows the query’s day', () => {
    const air = registry.find((d) => d.id === 'air_quality')!;
    const old = { lakeStart: isoDay(dayOf(today) - air.retention.curatedDays - 1), today };
    expect(curatedProjectionRange(air, TRANSFORM_DEFAULTS, old)).toBe(`NOW-${air.retention.curatedDays + lateness}DAYS,NOW+1DAYS`);
    expect(curatedProjectionRange(air, TRANSFORM_DEFAULTS, { lakeStart: isoDay(dayOf(today)), today })).toBe(`${isoDay(dayOf(today) - lateness)},NOW+1DAYS`);
  });
});

describe('the lakeStart setting', () => {
  it('is unset by default, and taken as a date up to today', () => {
    expect(CONFIG_DEFAULTS.lakeStart).toBeUndefined();
    expect(readConfig(testApp({ lakeStart: '2026-11-29' }).node, today).lakeStart).toBe('2026-11-29');
    expect(readConfig(testApp({ lakeStart: '2024-02-29' }).node, today).lakeStart).toBe('2024-02-29');
  });

  it.each([
    ['29-11-2026', /context "lakeStart": must be a date as YYYY-MM-DD, got "29-11-2026"/],
    ['2026-02-30', /context "lakeStart": must be a date as YYYY-MM-DD, got "2026-02-30"/],
    ['2026-11-30', /context "lakeStart": is 2026-11-30, after today \(2026-11-29 UTC\): the lake cannot have started yet/],
  ])('refuses %s', (value, message) => {
    expect(() => readConfig(testApp({ lakeStart: value }).node, today)).toThrow(ConfigError);
    expect(() => readConfig(testApp({ lakeStart: value }).node, today)).toThrow(message);
  });
});

describe('a synth without lakeStart', () => {
  it('warns that the projection spans the retention windows, and how to set the start', () => {
    const app = testApp();
    const stack = new DatastroomStack(app, 'Test', { config: readConfig(app.node, today), today });
    Annotations.fromStack(stack).hasWarning('/Test/Catalog', Match.stringLikeRegexp('context "lakeStart" is not set.*-c lakeStart=YYYY-MM-DD'));
    const started = testApp({ lakeStart: '2026-11-01' });
    const withStart = new DatastroomStack(started, 'Test', { config: readConfig(started.node, today), today });
    expect(Annotations.fromStack(withStart).findWarning('*', Match.stringLikeRegexp('lakeStart'))).toEqual([]);
  });
});
