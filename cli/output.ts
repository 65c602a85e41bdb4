/**
 * Query answers written as their rows arrive, in constant memory: a table
 * for people (it shows the first rows and says how many there were), CSV,
 * a JSON array and JSON lines for programs. A reader that goes away (a
 * closed pipe: `| head`) ends the writing quietly.
 */
import type { Writable } from 'node:stream';
import { DateCell, TimeCell, type Cell, type ResultColumn } from '../local/query.ts';
import { UsageError } from './args.ts';

/** The output formats, on standard output and (with csv and json) in files. */
export const FORMATS = ['table', 'json', 'csv', 'jsonl'] as const;
export type OutputFormat = (typeof FORMATS)[number];

/** Rows a table shows unless --max-rows says otherwise. */
export const DEFAULT_TABLE_ROWS = 100;

/** Widest cell a table shows; longer text is cut with an ellipsis. */
const MAX_CELL_WIDTH = 60;

/** The reader of the output went away (EPIPE): stop writing, quietly. */
export class OutputClosedError extends Error {
  constructor() {
    super('the output was closed by its reader');
    this.name = 'OutputClosedError';
  }
}

interface StreamState {
  closed: boolean;
  failure: Error | undefined;
}

// One error listener per stream, however many writers it serves.
const states = new WeakMap<Writable, StreamState>();

function stateOf(out: Writable): StreamState {
  let state = states.get(out);
  if (!state) {
    const created: StreamState = { closed: false, failure: undefined };
    out.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') created.closed = true;
      else created.failure = error;
    });
    states.set(out, created);
    state = created;
  }
  return state;
}

/**
 * Writes text with backpressure: resolves once the stream takes more, and
 * rejects with {@link OutputClosedError} if its reader went away.
 */
export class TextOut {
  private readonly state: StreamState;

  constructor(private readonly out: Writable) {
    this.state = stateOf(out);
  }

  async write(text: string): Promise<void> {
    if (this.state.failure) throw this.state.failure;
    if (this.state.closed || this.out.destroyed) throw new OutputClosedError();
    if (this.out.write(text)) return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('error', done);
        this.out.off('close', done);
        if (this.state.failure) reject(this.state.failure);
        else if (this.state.closed || this.out.destroyed) reject(new OutputClosedError());
        else resolve();
      };
      this.out.on('drain', done);
      this.out.on('error', done);
      this.out.on('close', done);
    });
  }
}

/** How numbers and times are written in CSV. */
export interface CsvStyle {
  /** @default ',' */
  readonly separator: string;
  /** @default '.' */
  readonly decimal: '.' | ',';
  /** A byte order mark first, so Excel reads UTF-8. @default false */
  readonly bom: boolean;
  /** Times as "2026-11-29 10:00:00" (what Excel reads as a date) instead of ISO 8601. @default false */
  readonly spreadsheetTimes: boolean;
}

/** Plain RFC 4180 CSV. */
export const CSV_DEFAULT: CsvStyle = { separator: ',', decimal: '.', bom: false, spreadsheetTimes: false };

/** CSV as Excel in Belgium (and most of Europe) opens it: semicolons, decimal comma, a BOM, times it reads as dates. */
export const CSV_EXCEL: CsvStyle = { separator: ';', decimal: ',', bom: true, spreadsheetTimes: true };

/**
 * A double as text: at most 15 significant digits, the precision a double
 * holds for any decimal number, so 0.7999999999999995 (binary noise of a
 * sum) reads 0.8 while every value that came in as decimal text stays exact.
 */
export function numberText(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Number.isInteger(n) && Math.abs(n) < 1e15 ? String(n) : String(Number(n.toPrecision(15)));
}

/** A cell as text for people: NULL, numbers without noise, instants with their zone. */
export function displayText(cell: Cell): string {
  if (cell === null) return 'NULL';
  if (typeof cell === 'number') return numberText(cell);
  if (cell instanceof TimeCell) return `${cell.iso().replace('T', ' ').replace(/Z$/, '')}${cell.utc ? ' UTC' : ''}`;
  if (cell instanceof DateCell) return cell.iso;
  if (typeof cell === 'object') return JSON.stringify(cell);
  return String(cell);
}

/** A cell as JSON text. */
export function jsonText(cell: Cell): string {
  if (cell === null) return 'null';
  if (typeof cell === 'number') return Number.isFinite(cell) ? numberText(cell) : 'null';
  if (typeof cell === 'bigint') return cell.toString();
  if (cell instanceof DateCell || cell instanceof TimeCell) return JSON.stringify(cell.toString());
  return JSON.stringify(cell);
}

function csvText(cell: Cell, style: CsvStyle): string {
  if (cell === null) return '';
  if (typeof cell === 'number') {
    const text = numberText(cell);
    return style.decimal === ',' ? text.replace('.', ',') : text;
  }
  if (cell instanceof TimeCell) return style.spreadsheetTimes ? cell.iso().replace('T', ' ').replace(/Z$/, '') : cell.iso();
  if (cell instanceof DateCell) return cell.iso;
  if (typeof cell === 'object') return JSON.stringify(cell);
  return String(cell);
}

/** Where rows go as they arrive. */
export interface RowWriter {
  write(rows: readonly (readonly Cell[])[]): Promise<void>;
  /** Writes what follows the last row; returns the number of rows written. */
  end(): Promise<number>;
}

/** CSV rows; fields quoted where they hold the separator, a quote or a line break. */
export function csvWriter(out: TextOut, columns: readonly ResultColumn[], style: CsvStyle = CSV_DEFAULT): RowWriter {
  if (style.separator === style.decimal) throw new UsageError(`a decimal ${style.decimal} needs another separator than "${style.separator}" (--separator ";")`);
  const special = new RegExp(`[${style.separator.replace(/[\]\\^-]/g, '\\$&')}"\\r\\n]`);
  const quote = (text: string) => (special.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  let header = `${style.bom ? '\uFEFF' : ''}${columns.map((c) => quote(c.name)).join(style.separator)}\n`;
  let count = 0;
  return {
    async write(rows) {
      let text = header;
      header = '';
      for (const row of rows) text += `${row.map((cell) => quote(csvText(cell, style))).join(style.separator)}\n`;
      count += rows.length;
      await out.write(text);
    },
    async end() {
      if (header) await out.write(header);
      return count;
    },
  };
}

/** One JSON object per row: a JSON array (one row per line) or JSON lines. */
export function jsonWriter(out: TextOut, columns: readonly ResultColumn[], lines: boolean): RowWriter {
  const keys = columns.map((c) => JSON.stringify(c.name));
  let count = 0;
  return {
    async write(rows) {
      let text = '';
      for (const row of rows) {
        const object = `{${row.map((cell, i) => `${keys[i]}:${jsonText(cell)}`).join(',')}}`;
        text += lines ? `${object}\n` : `${count === 0 ? '[\n' : ',\n'}${object}`;
        count += 1;
      }
      await out.write(text);
    },
    async end() {
      if (!lines) await out.write(count === 0 ? '[]\n' : '\n]\n');
      return count;
    },
  };
}

/** Cuts text to a width with an ellipsis. */
function fit(text: string, width: number): string {
  const oneLine = text.replace(/[\r\n\t]/g, ' ');
  return oneLine.length <= width ? oneLine : `${oneLine.slice(0, width - 1)}…`;
}

/**
 * An aligned table of the first `maxRows` rows (the rest is counted, not
 * kept), then the row count, saying when not every row is shown.
 */
export function tableWriter(out: TextOut, columns: readonly ResultColumn[], maxRows = DEFAULT_TABLE_ROWS): RowWriter {
  const shown: string[][] = [];
  let count = 0;
  const numeric = columns.map((c) => c.kind === 'integer' || c.kind === 'number');
  return {
    async write(rows) {
      for (const row of rows) {
        if (shown.length < maxRows) shown.push(row.map((cell) => fit(displayText(cell), MAX_CELL_WIDTH)));
        count += 1;
      }
    },
    async end() {
      const names = columns.map((c) => fit(c.name, MAX_CELL_WIDTH));
      const widths = names.map((name, i) => shown.reduce((w, r) => Math.max(w, (r[i] ?? '').length), name.length));
      const line = (values: readonly string[]) =>
        values.map((v, i) => (numeric[i] ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join(' | ').trimEnd();
      const lines = [line(names), widths.map((w) => '-'.repeat(w)).join('-+-'), ...shown.map(line)];
      const total = `${count.toLocaleString('en-US')} ${count === 1 ? 'row' : 'rows'}`;
      lines.push(
        count > shown.length
          ? `(${total}; the first ${shown.length} shown: --max-rows N shows more, --format csv or --output FILE gives all)`
          : `(${total})`,
      );
      await out.write(`${lines.join('\n')}\n`);
      return count;
    },
  };
}

/** The writer of a format. */
export function rowWriter(format: OutputFormat, out: TextOut, columns: readonly ResultColumn[], options: { maxRows?: number; csv?: CsvStyle } = {}): RowWriter {
  switch (format) {
    case 'table':
      return tableWriter(out, columns, options.maxRows);
    case 'csv':
      return csvWriter(out, columns, options.csv);
    case 'json':
      return jsonWriter(out, columns, false);
    case 'jsonl':
      return jsonWriter(out, columns, true);
  }
}

/** Streams batches of rows through a writer; returns the number of rows. */
export async function writeRows(writer: RowWriter, batches: AsyncIterable<Cell[][]>): Promise<number> {
  for await (const batch of batches) await writer.write(batch);
  return writer.end();
}
