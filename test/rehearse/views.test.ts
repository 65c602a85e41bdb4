import { beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../datasets/index.ts';
import { PRESTO_TYPES, viewColumns, viewsOf } from '../../glue/tables.ts';
import { hourlyView } from '../../glue/views.ts';
import type { Template } from '../../infra/governance/template.ts';
import { VIEW_RULES, viewFindingsOf, viewSqlColumns } from '../../infra/governance/views.ts';
import { platform } from '../helpers/stack.ts';

type TableInput = { Name: string; TableType: string; ViewOriginalText: string; StorageDescriptor: Record<string, unknown> };
type Resources = Record<string, { Type: string; Properties: { TableInput: TableInput } }>;

let synthesized: Template;
beforeAll(() => {
  synthesized = platform().template.toJSON() as Template;
});

/** A copy of the template with one view's table input changed. */
function withView(name: string, change: (input: TableInput) => void): Template {
  const copy = structuredClone(synthesized) as unknown as { Resources: Resources };
  const table = Object.values(copy.Resources).find((r) => r.Type === 'AWS::Glue::Table' && r.Properties.TableInput.Name === name)!;
  change(table.Properties.TableInput);
  return copy as unknown as Template;
}

function editDocument(input: TableInput, change: (document: Record<string, unknown>) => void) {
  const encoded = /^\/\* Presto View: (.*) \*\/$/.exec(input.ViewOriginalText)![1]!;
  const document = JSON.parse(Buffer.from(encoded, 'base64').toString()) as Record<string, unknown>;
  change(document);
  input.ViewOriginalText = `/* Presto View: ${Buffer.from(JSON.stringify(document)).toString('base64')} */`;
}

const air = registry.find((d) => d.id === 'air_quality')!;

describe('the views as deployed', () => {
  it('pass the view check: Athena’s shape, Trino SQL, declared columns as the SQL yields them', () => {
    expect(viewFindingsOf(synthesized)).toEqual([]);
  });

  it.each(registry.filter((d) => hourlyView(d)).map((d) => [d.id, d] as const))('%s_hourly yields, by Trino’s typing of its SQL over the curated table, the columns the registry derives', (_id, dataset) => {
    const [view] = viewsOf(dataset);
    const curated = Object.values(synthesized.Resources).find(
      (r) => r.Type === 'AWS::Glue::Table' && (r.Properties!.TableInput as { Name: string }).Name === dataset.id,
    )!.Properties!.TableInput as { StorageDescriptor: { Columns: { Name: string; Type: string }[] }; PartitionKeys: { Name: string; Type: string }[] };
    const trino: Record<string, string> = { string: 'varchar', timestamp: 'timestamp(3)' };
    const columns = [...curated.StorageDescriptor.Columns, ...curated.PartitionKeys].map((c) => ({ name: c.Name, type: trino[c.Type] ?? c.Type }));
    expect(viewSqlColumns(view!.sql, new Map([[dataset.id, columns]]))).toEqual({
      table: dataset.id,
      columns: viewColumns(view!, dataset).map((c) => ({ name: c.name, type: PRESTO_TYPES[c.kind] })),
    });
  });
});

describe('the view check', () => {
  it('refuses a view whose storage descriptor has no SerdeInfo, as Athena engine v3 does', () => {
    const findings = viewFindingsOf(withView('air_quality_hourly', (input) => delete input.StorageDescriptor.SerdeInfo));
    expect(findings).toEqual([expect.objectContaining({ rule: VIEW_RULES.storage, message: expect.stringMatching(/^view air_quality_hourly .*missing SerDe info/) })]);
  });

  it('refuses SQL that is not Trino’s (a DuckDB cast), with the parser’s position', () => {
    const findings = viewFindingsOf(withView('air_quality_hourly', (input) => editDocument(input, (d) => (d.originalSql = 'SELECT "dt"::date AS "dt" FROM "air_quality"'))));
    expect(findings).toEqual([expect.objectContaining({ rule: VIEW_RULES.sql, message: expect.stringMatching(/not Trino SQL: line 1, column \d+/) })]);
  });

  it('refuses a declared type the SQL does not yield', () => {
    const findings = viewFindingsOf(
      withView('air_quality_hourly', (input) =>
        editDocument(input, (d) => {
          const columns = d.columns as { name: string; type: string }[];
          columns.find((c) => c.name === 'pm25_avg')!.type = 'bigint';
        }),
      ),
    );
    expect(findings).toEqual([
      expect.objectContaining({ rule: VIEW_RULES.columns, message: expect.stringMatching(/declares \(.*pm25_avg bigint.*\) but the SQL yields \(.*pm25_avg double.*\)/) }),
    ]);
  });

  it('refuses SQL over a column its table does not have', () => {
    const sql = hourlyView(air)!.sql.replace('avg("pm25")', 'avg("pm2_5")');
    const findings = viewFindingsOf(withView('air_quality_hourly', (input) => editDocument(input, (d) => (d.originalSql = sql))));
    expect(findings).toEqual([expect.objectContaining({ rule: VIEW_RULES.sql, message: expect.stringContaining('column pm2_5 is not in the table it reads') })]);
  });

  it('types the SQL as Trino does: count bigint, avg double, min and max and date_trunc as their argument', () => {
    const table = new Map([
      [
        'readings',
        [
          { name: 'dt', type: 'varchar' },
          { name: 'ts', type: 'timestamp(3)' },
          { name: 'cars', type: 'bigint' },
          { name: 'level', type: 'double' },
        ],
      ],
    ]);
    const sql = `SELECT "dt", date_trunc('hour', "ts") AS "hour", count(*) AS "n", avg("cars") AS "a", sum("cars") AS "s", max("level") AS "m" FROM "readings" GROUP BY 1, 2`;
    expect(viewSqlColumns(sql, table)).toEqual({
      table: 'readings',
      columns: [
        { name: 'dt', type: 'varchar' },
        { name: 'hour', type: 'timestamp(3)' },
        { name: 'n', type: 'bigint' },
        { name: 'a', type: 'double' },
        { name: 's', type: 'bigint' },
        { name: 'm', type: 'double' },
      ],
    });
  });
});
