/**
 * Derived views, written in the SQL that Athena (Trino) and DuckDB share, so
 * the same text defines them in the Glue catalog and in the local query
 * engine. Names are the dataset id plus a suffix.
 */
import { registry, type Dataset } from '../datasets/index.ts';
import { quoteIdent } from '../functions/core/columns.ts';

/** A view over one dataset's curated table. */
export interface ViewDefinition {
  readonly name: string;
  readonly datasetId: string;
  readonly description: string;
  /** The SELECT the view stands for (no CREATE VIEW around it). */
  readonly sql: string;
}

/** Name of a dataset's hourly aggregate view. */
export function hourlyViewName(dataset: Dataset): string {
  return `${dataset.id}_hourly`;
}

/**
 * Per sensor and hour: the number of readings and each numeric field's
 * aggregates (avg, min, max or sum, as the field declares). Carries `dt`, so
 * a filter on it still prunes partitions through the view.
 */
export function hourlyView(dataset: Dataset): ViewDefinition | undefined {
  const measures = dataset.fields.flatMap((f) =>
    f.aggregate.map((agg) => `${agg}(${quoteIdent(f.name)}) AS ${quoteIdent(`${f.name}_${agg}`)}`),
  );
  if (measures.length === 0) return undefined;
  const sql = [
    `SELECT ${quoteIdent('dt')}, date_trunc('hour', ${quoteIdent('ts')}) AS ${quoteIdent('hour')}, ${quoteIdent('sensor_id')},`,
    `  count(*) AS ${quoteIdent('readings')},`,
    `  ${measures.join(',\n  ')}`,
    `FROM ${quoteIdent(dataset.id)}`,
    `GROUP BY ${quoteIdent('dt')}, date_trunc('hour', ${quoteIdent('ts')}), ${quoteIdent('sensor_id')}`,
  ].join('\n');
  return {
    name: hourlyViewName(dataset),
    datasetId: dataset.id,
    description: `${dataset.title} per sensor and hour (UTC)`,
    sql,
  };
}

/** Every derived view of every dataset. */
export function allViews(datasets: readonly Dataset[] = registry): readonly ViewDefinition[] {
  return datasets.flatMap((d) => {
    const hourly = hourlyView(d);
    return hourly ? [hourly] : [];
  });
}
