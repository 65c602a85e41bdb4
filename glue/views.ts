/**
 * Derived views, written in the SQL that Athena (Trino) and DuckDB share, so
 * the same text defines them in the Glue catalog and in the local query
 * engine. Names are the dataset id plus a suffix.
 */
import { registry, type Dataset, type FieldSpec } from '../datasets/index.ts';
import { quoteIdent, quoteString } from '../functions/core/columns.ts';
import { PLACES_TABLE } from '../functions/core/places.ts';

/** A view over one dataset's curated table. */
export interface ViewDefinition {
  readonly name: string;
  readonly datasetId: string;
  readonly description: string;
  /** The SELECT the view stands for (no CREATE VIEW around it). */
  readonly sql: string;
  /** The tables and views it reads, defined before it. */
  readonly reads: readonly string[];
}

/** The zone the city reports in: local hours in the views and the README's local-time expression. */
export const CITY_TIME_ZONE = 'Europe/Brussels';

/**
 * A UTC instant as the city's wall-clock time, in the one spelling both
 * engines read alike. Locally `ts` is a TIMESTAMPTZ, and AT TIME ZONE gives
 * the naive local time; on Athena `ts` is a timestamp the session (UTC)
 * interprets, AT TIME ZONE gives a timestamp with time zone, and the CAST
 * keeps its wall-clock reading. Daylight saving follows the zone's rules on
 * both, so 02:00 to 03:00 local on the last Sunday of October occurs twice.
 */
export function localTimeSql(column: string, zone: string = CITY_TIME_ZONE): string {
  return `CAST(${quoteIdent(column)} AT TIME ZONE ${quoteString(zone)} AS timestamp)`;
}

/** Name of a dataset's hourly aggregate view. */
export function hourlyViewName(dataset: Dataset): string {
  return `${dataset.id}_hourly`;
}

/** Name of a dataset's quarantine view: the readings it refused, with their reasons. */
export function quarantineViewName(dataset: Dataset): string {
  return `${dataset.id}_quarantine`;
}

/**
 * Decimals an aggregate of a field is rounded to: the noise of binary
 * fractions (0.7999999999999995) removed, and about four significant digits
 * of the field's typical magnitude kept (pm25 around 35 gets 2 decimals, a
 * confidence around 1 gets 3, a level around 180 cm gets 1). Integers get 2
 * decimals in an average; their sums, minima and maxima are exact.
 */
export function aggregateDecimals(field: FieldSpec): number {
  if (field.kind === 'bigint') return 2;
  const magnitude = field.typical ? Math.max(Math.abs(field.typical[0]), Math.abs(field.typical[1])) : field.maximum;
  if (magnitude === undefined || !(magnitude > 0)) return 2;
  return Math.min(4, Math.max(1, 3 - Math.floor(Math.log10(magnitude))));
}

/** Averages always carry binary noise, and so do sums of doubles; minima, maxima and integer sums are readings or exact. */
function rounded(field: FieldSpec, agg: string): boolean {
  return agg === 'avg' || (agg === 'sum' && field.kind === 'double');
}

/**
 * Per sensor and hour: the number of readings and each numeric field's
 * aggregates (avg, min, max or sum, as the field declares), rounded to the
 * field's precision. `hour` is the UTC hour, `hour_local` the same hour on
 * the city's clock. Carries `dt`, so a filter on it still prunes partitions
 * through the view.
 */
export function hourlyView(dataset: Dataset): ViewDefinition | undefined {
  const measures = dataset.fields.flatMap((f) =>
    f.aggregate.map((agg) => {
      const call = `${agg}(${quoteIdent(f.name)})`;
      return `${rounded(f, agg) ? `round(${call}, ${aggregateDecimals(f)})` : call} AS ${quoteIdent(`${f.name}_${agg}`)}`;
    }),
  );
  if (measures.length === 0) return undefined;
  const hour = `date_trunc('hour', ${quoteIdent('ts')})`;
  const localHour = `date_trunc('hour', ${localTimeSql('ts')})`;
  const sql = [
    `SELECT ${quoteIdent('dt')}, ${hour} AS ${quoteIdent('hour')}, ${localHour} AS ${quoteIdent('hour_local')}, ${quoteIdent('sensor_id')},`,
    `  count(*) AS ${quoteIdent('readings')},`,
    `  ${measures.join(',\n  ')}`,
    `FROM ${quoteIdent(dataset.id)}`,
    `GROUP BY ${quoteIdent('dt')}, ${hour}, ${localHour}, ${quoteIdent('sensor_id')}`,
  ].join('\n');
  return {
    name: hourlyViewName(dataset),
    datasetId: dataset.id,
    description: `${dataset.title} per sensor and hour (hour in UTC, hour_local in ${CITY_TIME_ZONE})`,
    sql,
    reads: [dataset.id],
  };
}

/** Name of a dataset's view of its sensors and their places. */
export function sensorsViewName(dataset: Dataset): string {
  return `${dataset.id}_sensors`;
}

/**
 * Per sensor and day: where it stands (from the `sensors` table of places,
 * empty for a sensor without a place) and how many readings it sent, the
 * first and the last. Carries `dt`, so a filter on it prunes partitions.
 */
export function sensorsView(dataset: Dataset): ViewDefinition {
  const r = (c: string) => `r.${quoteIdent(c)}`;
  const p = (c: string) => `p.${quoteIdent(c)}`;
  const place = ['name', 'address', 'latitude', 'longitude'].map(p);
  const sql = [
    `SELECT ${r('dt')}, ${r('sensor_id')}, ${place.join(', ')},`,
    `  count(*) AS ${quoteIdent('readings')}, min(${r('ts')}) AS ${quoteIdent('first_reading')}, max(${r('ts')}) AS ${quoteIdent('last_reading')}`,
    `FROM ${quoteIdent(dataset.id)} r LEFT JOIN ${quoteIdent(PLACES_TABLE)} p ON ${p('dataset')} = ${quoteString(dataset.id)} AND ${p('sensor_id')} = ${r('sensor_id')}`,
    `GROUP BY ${[r('dt'), r('sensor_id'), ...place].join(', ')}`,
  ].join('\n');
  return {
    name: sensorsViewName(dataset),
    datasetId: dataset.id,
    description: `${dataset.title}: each sensor's place and its readings per day`,
    sql,
    reads: [dataset.id, PLACES_TABLE],
  };
}

/** Every derived view of every dataset that both engines define from the same SQL. */
export function allViews(datasets: readonly Dataset[] = registry): readonly ViewDefinition[] {
  return datasets.flatMap((d) => {
    const hourly = hourlyView(d);
    return [...(hourly ? [hourly] : []), sensorsView(d)];
  });
}
