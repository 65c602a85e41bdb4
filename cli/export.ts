/**
 * Exports of a query's answer to a file, written by this process as the
 * rows arrive (never by the query engine, which writes no files): CSV and
 * JSON through the same writers as standard output, Excel workbooks through
 * ExcelJS's streaming writer, Parquet through hyparquet-writer, one row
 * group at a time. The file appears whole or not at all: it is written
 * beside its final name and renamed when complete.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { once } from 'node:events';
import ExcelJS from 'exceljs';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { DateCell, TimeCell, type Cell, type ResultColumn } from '../local/query.ts';
import { suggestion, UsageError } from './args.ts';
import { csvWriter, jsonWriter, numberText, TextOut, writeRows, type CsvStyle } from './output.ts';

/** What --output writes, chosen by --format or the file's extension. */
export const EXPORT_FORMATS = ['csv', 'xlsx', 'parquet', 'json', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The most rows a worksheet holds (Excel's limit, 2^20, less the header). */
export const XLSX_MAX_ROWS = 1_048_575;

/** Rows per Parquet row group: memory of an export stays within one group. */
const PARQUET_ROW_GROUP = 50_000;

/** An answer too large for the format asked. */
export class ExportTooLargeError extends Error {
  constructor(format: string, limit: number) {
    super(`the answer has more than ${limit.toLocaleString('en-US')} rows, the most an ${format} sheet holds; nothing was written: export it as csv or parquet, or narrow the query`);
    this.name = 'ExportTooLargeError';
  }
}

/** The export format for a file: the one asked, else the one its extension names. */
export function exportFormatOf(file: string, asked: string | undefined): ExportFormat {
  const candidate = asked ?? extname(file).slice(1).toLowerCase();
  if ((EXPORT_FORMATS as readonly string[]).includes(candidate)) return candidate as ExportFormat;
  throw new UsageError(
    asked === undefined
      ? `cannot tell the format of ${file} from its extension: name it .csv, .xlsx, .parquet, .json or .jsonl, or give --format`
      : `--output writes ${EXPORT_FORMATS.join(', ')}, not ${asked}${suggestion(asked, EXPORT_FORMATS)}`,
  );
}

/** Writes a stream of rows as an Excel workbook: numbers as numbers, dates and times as dates (UTC wall clock). */
async function writeXlsx(file: string, columns: readonly ResultColumn[], batches: AsyncIterable<Cell[][]>): Promise<number> {
  // Inline strings instead of a shared-string table: the table would grow with the answer.
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useSharedStrings: false, useStyles: true });
  const sheet = workbook.addWorksheet('query');
  sheet.columns = columns.map((c) => ({
    header: c.name,
    key: c.name,
    width: Math.max(10, Math.min(40, c.name.length + 2)),
    style: c.kind === 'instant' || c.kind === 'timestamp' ? { numFmt: 'yyyy-mm-dd hh:mm:ss' } : c.kind === 'date' ? { numFmt: 'yyyy-mm-dd' } : {},
  }));
  let count = 0;
  for await (const batch of batches) {
    for (const row of batch) {
      if (++count > XLSX_MAX_ROWS) throw new ExportTooLargeError('xlsx', XLSX_MAX_ROWS);
      sheet
        .addRow(
          row.map((cell) => {
            if (cell === null) return null;
            if (cell instanceof TimeCell) return cell.toDate();
            if (cell instanceof DateCell) return new Date(`${cell.iso}T00:00:00Z`);
            if (typeof cell === 'bigint') return Number.isSafeInteger(Number(cell)) ? Number(cell) : cell.toString();
            if (typeof cell === 'number') return Number(numberText(cell));
            if (typeof cell === 'object') return JSON.stringify(cell);
            return cell;
          }),
        )
        .commit();
    }
  }
  sheet.commit();
  await workbook.commit();
  return count;
}

type ParquetType = 'BOOLEAN' | 'INT64' | 'DOUBLE' | 'STRING' | 'TIMESTAMP' | 'JSON';

/** The Parquet type of a column; times are kept to the millisecond (hyparquet-writer's TIMESTAMP). */
function parquetType(column: ResultColumn): ParquetType {
  switch (column.kind) {
    case 'integer':
      return 'INT64';
    case 'number':
      return 'DOUBLE';
    case 'boolean':
      return 'BOOLEAN';
    case 'instant':
    case 'timestamp':
      return 'TIMESTAMP';
    case 'json':
      return 'JSON';
    default:
      return 'STRING';
  }
}

function parquetValue(cell: Cell, type: ParquetType): unknown {
  if (cell === null) return null;
  switch (type) {
    case 'INT64':
      return typeof cell === 'bigint' ? cell : BigInt(Number(cell));
    case 'TIMESTAMP':
      return cell instanceof TimeCell ? cell.toDate() : null;
    case 'JSON':
      return cell;
    case 'DOUBLE':
    case 'BOOLEAN':
      return cell;
    default:
      return cell.toString();
  }
}

/** Writes a stream of rows as Parquet, one row group per {@link PARQUET_ROW_GROUP} rows. */
async function writeParquet(file: string, columns: readonly ResultColumn[], batches: AsyncIterable<Cell[][]>): Promise<number> {
  const types = columns.map(parquetType);
  const writer = new ParquetWriter({
    writer: fileWriter(file),
    schema: [
      { name: 'root', num_children: columns.length },
      ...columns.map((c, i) => {
        switch (types[i]) {
          case 'INT64':
            return { name: c.name, type: 'INT64' as const, repetition_type: 'OPTIONAL' as const };
          case 'DOUBLE':
            return { name: c.name, type: 'DOUBLE' as const, repetition_type: 'OPTIONAL' as const };
          case 'BOOLEAN':
            return { name: c.name, type: 'BOOLEAN' as const, repetition_type: 'OPTIONAL' as const };
          case 'TIMESTAMP':
            return {
              name: c.name,
              type: 'INT64' as const,
              repetition_type: 'OPTIONAL' as const,
              logical_type: { type: 'TIMESTAMP' as const, isAdjustedToUTC: c.kind === 'instant', unit: 'MILLIS' as const },
            };
          case 'JSON':
            return { name: c.name, type: 'BYTE_ARRAY' as const, repetition_type: 'OPTIONAL' as const, converted_type: 'JSON' as const };
          default:
            return { name: c.name, type: 'BYTE_ARRAY' as const, repetition_type: 'OPTIONAL' as const, converted_type: 'UTF8' as const };
        }
      }),
    ],
  });
  let group: Cell[][] = [];
  let count = 0;
  const flush = async () => {
    if (group.length === 0) return;
    const rows = group;
    group = [];
    await writer.write({
      columnData: columns.map((c, i) => ({ name: c.name, data: rows.map((row) => parquetValue(row[i] ?? null, types[i] ?? 'STRING')) })),
      rowGroupSize: rows.length,
    });
  };
  for await (const batch of batches) {
    for (const row of batch) {
      group.push(row);
      count += 1;
      if (group.length >= PARQUET_ROW_GROUP) await flush();
    }
  }
  await flush();
  await writer.finish();
  return count;
}

/** Export options. */
export interface ExportOptions {
  readonly format: ExportFormat;
  /** @default CSV_DEFAULT */
  readonly csv?: CsvStyle;
}

/** Writes an answer to a file as it arrives; returns the number of rows. Nothing is left behind on failure. */
export async function exportRows(file: string, columns: readonly ResultColumn[], batches: AsyncIterable<Cell[][]>, options: ExportOptions): Promise<number> {
  const partial = join(dirname(file), `.${basename(file)}.${process.pid}.partial`);
  try {
    let count: number;
    switch (options.format) {
      case 'xlsx':
        count = await writeXlsx(partial, columns, batches);
        break;
      case 'parquet':
        count = await writeParquet(partial, columns, batches);
        break;
      default: {
        const stream = createWriteStream(partial, { mode: 0o644 });
        await once(stream, 'open');
        const out = new TextOut(stream);
        const writer = options.format === 'csv' ? csvWriter(out, columns, options.csv) : jsonWriter(out, columns, options.format === 'jsonl');
        count = await writeRows(writer, batches);
        stream.end();
        await once(stream, 'finish');
      }
    }
    await rename(partial, file);
    return count;
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
