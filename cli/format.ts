/** Renders query answers for people (table) and programs (json, csv). */

export const FORMATS = ['table', 'json', 'csv'] as const;
export type OutputFormat = (typeof FORMATS)[number];

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** An aligned text table with a header rule and a row count. */
export function formatTable(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => row.map((v) => (v === null || v === undefined ? 'NULL' : cellText(v))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = columns.map((_, i) => rows.length > 0 && rows.every((r) => r[i] === null || typeof r[i] === 'number'));
  const line = (values: readonly string[]) =>
    values.map((v, i) => (numeric[i] ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join(' | ').trimEnd();
  const out = [line(columns), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line)];
  out.push(`(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`);
  return out.join('\n');
}

/** One JSON array of row objects. */
export function formatJson(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return JSON.stringify(rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i] ?? null]))));
}

/** RFC 4180 CSV with a header line. */
export function formatCsv(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const quote = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  return [columns, ...rows].map((row) => row.map((v) => quote(cellText(v))).join(',')).join('\n');
}

export function formatRows(format: OutputFormat, columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  switch (format) {
    case 'table':
      return formatTable(columns, rows);
    case 'json':
      return formatJson(columns, rows);
    case 'csv':
      return formatCsv(columns, rows);
  }
}
