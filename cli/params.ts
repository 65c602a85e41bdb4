/**
 * --param values, read the same way for both engines: the text a person
 * types is typed by its form, then bound to DuckDB as that type or written
 * as that type's literal for Athena (whose execution parameters are SQL
 * literals). So `--param 2026-11-29` is a date on both engines and
 * `dt = ?` matches it on both.
 *
 *   42, -7            integer
 *   12.5, 1e3         number
 *   true, false       boolean
 *   2026-11-29        date
 *   2026-11-29T10:00:00+01:00 (or Z)   instant
 *   'anything'        text: quotes make any value text ('' for a quote inside)
 *   anything else     text
 */
import type { QueryParam } from '../local/query.ts';
import { UsageError } from './args.ts';

const INTEGER = /^-?\d{1,18}$/;
const NUMBER = /^-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})$/;

function validDate(text: string): boolean {
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

/** A --param value with its type. */
export function parseParam(text: string): QueryParam {
  if (text.length >= 2 && text.startsWith("'") && text.endsWith("'")) {
    const inner = text.slice(1, -1);
    if (/(^|[^'])'([^']|$)/.test(inner.replace(/''/g, ''))) throw new UsageError(`--param ${text}: a quote inside quoted text is written twice ('')`);
    return { kind: 'text', value: inner.replace(/''/g, "'") };
  }
  if (INTEGER.test(text)) return { kind: 'integer', value: BigInt(text) };
  if (NUMBER.test(text) && Number.isFinite(Number(text))) return { kind: 'number', value: Number(text) };
  if (text === 'true' || text === 'false') return { kind: 'boolean', value: text === 'true' };
  if (DATE.test(text)) {
    if (!validDate(text)) throw new UsageError(`--param ${text} is not a date of the calendar`);
    return { kind: 'date', value: text };
  }
  if (INSTANT.test(text)) {
    if (Number.isNaN(Date.parse(text)) || !validDate(text.slice(0, 10))) throw new UsageError(`--param ${text} is not a valid time`);
    return { kind: 'instant', value: text };
  }
  return { kind: 'text', value: text };
}

/** The Athena (Trino) literal of a typed value: what its execution parameters take. */
export function athenaLiteral(param: QueryParam): string {
  switch (param.kind) {
    case 'text':
      return `'${param.value.replace(/'/g, "''")}'`;
    case 'integer':
      return param.value.toString();
    case 'number':
      return String(param.value);
    case 'boolean':
      return String(param.value);
    case 'date':
      return `DATE '${param.value}'`;
    case 'instant': {
      // Trino reads a zone after the time in a TIMESTAMP literal; the instant is given in UTC.
      const iso = new Date(Date.parse(param.value)).toISOString();
      return `TIMESTAMP '${iso.slice(0, 10)} ${iso.slice(11, 23)} UTC'`;
    }
  }
}
