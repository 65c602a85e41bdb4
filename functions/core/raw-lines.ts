/**
 * Raw objects as lines: reading the records at chosen positions, writing
 * JSON lines with back-pressure, and the canonical pre-pass that turns any
 * raw object into one line per reading that DuckDB's JSON reader can read.
 * Everything here streams: memory does not grow with the object.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import { createGzip, createGunzip, type Gzip } from 'node:zlib';
import type { Dataset } from '../../datasets/index.ts';
import type { RawRecord } from './envelope.ts';
import { isNativeShape, mapPayload, type MappedReading } from './formats.ts';
import { decodePayload, MAX_NESTING, readingId, typeName, type DecodedPayload } from './reading.ts';

/** A JSON-lines file written in batches, waiting for the disk when the stream asks it to. */
export class JsonLinesWriter {
  private readonly out: WriteStream | Gzip;
  private readonly file$: WriteStream;
  private batch: string[] = [];
  private batchChars = 0;
  /** Lines written so far. */
  count = 0;
  /** Characters of the lines written so far (line feeds included). */
  chars = 0;

  /** With `gzip`, the file is compressed as it is written (in the thread pool, beside the caller). */
  constructor(
    readonly file: string,
    options: { readonly gzip?: boolean } = {},
  ) {
    this.file$ = createWriteStream(file);
    if (options.gzip ?? false) {
      const gzip = createGzip({ level: 1 });
      gzip.pipe(this.file$);
      gzip.on('error', (error) => this.file$.destroy(error));
      this.out = gzip;
    } else {
      this.out = this.file$;
    }
  }

  /** Adds one line (a value to serialise, or a line of JSON text); call {@link flush} when {@link full}. */
  push(value: unknown): void {
    const line = typeof value === 'string' ? value : JSON.stringify(value);
    this.batch.push(line);
    this.batchChars += line.length;
    this.chars += line.length + 1;
    this.count += 1;
  }

  /** Whether enough is batched to hand to the disk. */
  get full(): boolean {
    return this.batchChars >= 256 * 1024;
  }

  /** Appends one line and flushes when the batch is full. */
  async write(value: unknown): Promise<void> {
    this.push(value);
    if (this.full) await this.flush();
  }

  /** Hands the batch to the stream; waits while the stream is over its high-water mark. */
  async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const text = this.batch.join('\n') + '\n';
    this.batch = [];
    this.batchChars = 0;
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  /** Writes what is left and closes the file. */
  async close(): Promise<void> {
    await this.flush();
    this.out.end();
    await once(this.file$, 'close');
  }

  /** Closes the file without waiting for what is left (after a failure). */
  destroy(): void {
    this.out.destroy();
    this.file$.destroy();
  }
}

/** A record position wanted from an object, with whatever the caller carries along. */
export interface Wanted {
  readonly position: number;
}

/**
 * The text of the records at the wanted positions (0-based, in file order)
 * of a JSON-lines object, gzip or not, as they are reached. `wanted` comes in
 * batches, in strictly ascending order; what is found comes in batches too (a million
 * refused readings must not mean a million promises). Blank lines are not
 * records, as for DuckDB's reader (see {@link isBlankLine}); only the wanted
 * lines become strings.
 */
export async function* recordsAt<W extends Wanted>(
  file: string,
  wanted: AsyncIterable<readonly W[]> | Iterable<readonly W[]>,
): AsyncGenerator<(W & { text: string })[]> {
  const batches = (Symbol.asyncIterator in wanted ? wanted[Symbol.asyncIterator]() : toAsync(wanted[Symbol.iterator]())) as AsyncIterator<readonly W[]>;
  let batch: readonly W[] = [];
  let at = 0;
  /** Moves to the next batch once this one is used up; false when there is none. */
  const refill = async (): Promise<boolean> => {
    while (at >= batch.length) {
      const next = await batches.next();
      if (next.done) return false;
      batch = next.value;
      at = 0;
    }
    return true;
  };
  if (!(await refill())) return;
  let record = 0;
  // One reused buffer: no allocation per line or per chunk, as this runs beside the Parquet writer.
  let buffer = Buffer.allocUnsafe(1024 * 1024);
  let filled = 0;
  const isBlank = (from: number, to: number) => {
    let i = from;
    while (i < to && isRecordSpace(buffer[i] as number)) i++;
    return i === to;
  };
  let found: (W & { text: string })[] = [];
  let done = false;
  for await (const chunk of chunksOf(file)) {
    if (filled + chunk.length > buffer.length) {
      const bigger = Buffer.allocUnsafe(Math.max(buffer.length * 2, filled + chunk.length));
      buffer.copy(bigger, 0, 0, filled);
      buffer = bigger;
    }
    chunk.copy(buffer, filled);
    filled += chunk.length;
    let start = 0;
    for (let nl = buffer.indexOf(0x0a, start); !done && nl !== -1 && nl < filled; nl = buffer.indexOf(0x0a, start)) {
      if (!isBlank(start, nl)) {
        // Most lines are not wanted, and most wanted ones need no new batch: only then is anything awaited.
        if ((batch[at] as W).position === record) {
          found.push({ ...(batch[at] as W), text: buffer.toString('utf8', start, nl) });
          at += 1;
          if (at >= batch.length && !(await refill())) done = true;
        }
        record += 1;
      }
      start = nl + 1;
    }
    if (found.length > 0) {
      yield found;
      found = [];
    }
    if (done) return;
    buffer.copy(buffer, 0, start, filled);
    filled -= start;
  }
  // The last record may lack its newline.
  if (filled > 0 && !isBlank(0, filled) && (batch[at] as W).position === record) yield [{ ...(batch[at] as W), text: buffer.toString('utf8', 0, filled) }];
}

async function* toAsync<T>(iterator: Iterator<T>): AsyncGenerator<T> {
  for (let r = iterator.next(); !r.done; r = iterator.next()) yield r.value;
}

async function* chunksOf(file: string): AsyncGenerator<Buffer> {
  if (file.endsWith('.gz')) {
    yield* createReadStream(file).pipe(createGunzip()) as AsyncIterable<Buffer>;
    return;
  }
  const handle = await open(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(512 * 1024);
    for (let read = (await handle.read(chunk, 0, chunk.length)).bytesRead; read > 0; read = (await handle.read(chunk, 0, chunk.length)).bytesRead) {
      yield chunk.subarray(0, read);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Whether a raw object may hold any of the keys: its bytes hold one quoted
 * (as a key or anywhere else), or a `\u` escape, which may spell one. A key
 * with a character JSON may escape otherwise (a quote, a backslash, a
 * slash, anything beyond printable ASCII) may always be there. One pass,
 * memory bounded by the read buffer.
 */
export async function mayHoldKey(file: string, keys: readonly string[]): Promise<boolean> {
  if (keys.length === 0) return false;
  if (keys.some((k) => !/^[\x20-\x7e]*$/.test(k) || /["\\/]/.test(k))) return true;
  // One pass of one expression over each chunk's bytes (ASCII keys: latin1 text keeps them as they are).
  const needles = new RegExp(`${keys.map((k) => JSON.stringify(k).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')}|\\\\u`);
  const overlap = Math.max(...keys.map((k) => k.length + 2), 2) - 1;
  let tail = '';
  for await (const chunk of chunksOf(file)) {
    const text = chunk.toString('latin1');
    // A key split between two chunks is found in the tail of the one joined to the head of the next.
    if (needles.test(text) || needles.test(tail + text.slice(0, overlap))) return true;
    tail = text.slice(-overlap);
  }
  return false;
}

/**
 * The lines of a text file (gzip or not), numbered from 1, blank ones
 * included. Only a line feed ends a line, as for DuckDB's reader: a carriage
 * return before it is dropped, and one anywhere else is JSON whitespace
 * within the line.
 */
export async function* numberedLines(file: string): AsyncGenerator<{ n: number; text: string }> {
  let n = 0;
  for await (const { lines } of lineBatches(file)) {
    for (let i = 0; i < lines.length; i++) {
      n += 1;
      yield { n, text: lines[i] as string };
    }
  }
}

/** Lines of a file, a chunk's worth at a time (see {@link lineBatches}). */
export interface LineBatch {
  readonly lines: readonly string[];
  /**
   * Whether no line of the batch holds a `\u` escape or a UTF-16 surrogate:
   * then nothing parsed from them holds a lone surrogate (text decoded from
   * UTF-8 holds only whole pairs), nor does any part of it.
   */
  readonly plain: boolean;
}

// A "\u" escape or any surrogate: where a lone surrogate may come from.
const SURROGATE = /[\uD800-\uDFFF]/;
const mayHoldLoneSurrogate = (text: string): boolean => text.includes('\\u') || SURROGATE.test(text);

/**
 * The lines of a text file as {@link numberedLines} reads them, in batches:
 * a loop over a batch costs no promise per line.
 */
export async function* lineBatches(file: string): AsyncGenerator<LineBatch> {
  const bytes = createReadStream(file, { highWaterMark: 256 * 1024 });
  const input = (file.endsWith('.gz') ? bytes.pipe(createGunzip()) : bytes) as AsyncIterable<Buffer>;
  const decoder = new StringDecoder('utf8');
  const withoutCr = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);
  // The start of a line that spans chunks, in pieces: a long line is joined once, not once per chunk.
  let pieces: string[] = [];
  try {
    for await (const chunk of input) {
      const text = decoder.write(chunk);
      const lines: string[] = [];
      let plain = !mayHoldLoneSurrogate(text);
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        const tail = text.slice(start, nl);
        let line = tail;
        if (pieces.length > 0) {
          // A "\u" may be split between chunks: the joined line is judged whole.
          line = pieces.join('') + tail;
          pieces = [];
          if (plain && mayHoldLoneSurrogate(line)) plain = false;
        }
        lines.push(line.endsWith('\r') ? line.slice(0, -1) : line);
        start = nl + 1;
      }
      if (start < text.length) pieces.push(text.slice(start));
      if (lines.length > 0) yield { lines, plain };
    }
  } finally {
    bytes.destroy();
  }
  const last = pieces.join('') + decoder.end();
  if (last !== '') yield { lines: [withoutCr(last)], plain: !mayHoldLoneSurrogate(last) };
}

/** The bytes DuckDB's line reader skips around a record: space, tab, vertical tab, form feed, carriage return. */
function isRecordSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d && byte !== 0x0a);
}

const RECORD_SPACE_RUN = /^[ \t\v\f\r]+|[ \t\v\f\r]+$/g;

/**
 * Whether a line holds no record: only the whitespace DuckDB's reader skips.
 * Any other line is a record, readable or not; a line of other spaces (a
 * no-break space, U+2028) is one the reader refuses.
 */
export function isBlankLine(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!isRecordSpace(text.charCodeAt(i))) return false;
  return true;
}

/** A record line without the whitespace DuckDB's reader skips around it (which JSON.parse would refuse). */
export function recordText(line: string): string {
  return isRecordSpace(line.charCodeAt(0)) || isRecordSpace(line.charCodeAt(line.length - 1)) ? line.replace(RECORD_SPACE_RUN, '') : line;
}

// A UTF-16 surrogate without its partner: JSON.parse takes it ("\ud800"), DuckDB's reader refuses the whole object.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** Text with every lone surrogate replaced by U+FFFD, so any JSON reader takes it. */
export function wellFormed(text: string): string {
  return LONE_SURROGATE.test(text) ? text.replace(LONE_SURROGATES, '\uFFFD') : text;
}

/** A value with every key and string made well-formed (see {@link wellFormed}). */
export function wellFormedValue(value: unknown): unknown {
  if (typeof value === 'string') return wellFormed(value);
  if (Array.isArray(value)) return value.map(wellFormedValue);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormed(k), wellFormedValue(v)]));
}

/** Where a JSON value holds a lone surrogate in a key or a string (`reading`, `reading.x`, `reading[2]`), or undefined. */
export function illFormedAt(value: unknown, path = 'reading'): string | undefined {
  const stack: [unknown, string][] = [[value, path]];
  while (stack.length > 0) {
    const [v, at] = stack.pop() as [unknown, string];
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return at;
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push([item, `${at}[${i}]`]));
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, child] of Object.entries(v)) {
        if (LONE_SURROGATE.test(k)) return `a key of ${at}`;
        stack.push([child, `${at}.${k}`]);
      }
    }
  }
  return undefined;
}

/** The part of a canonical line after its envelope: the reading as JSON, or why it holds none and its bytes. */
function readingBody(value: unknown, text: string, options: CanonicalOptions): string {
  const illFormed = illFormedAt(value);
  if (illFormed !== undefined) {
    // Quarantine keeps it with U+FFFD in place of the lone surrogate; the raw object keeps the original.
    const kept = Buffer.from(JSON.stringify(wellFormedValue(value)) ?? 'null').toString('base64');
    // A path names keys, and in a personal-data dataset a key may be a plate.
    const where = options.personal ? 'reading' : illFormed;
    const reason = `${where} is not valid Unicode: it holds a lone UTF-16 surrogate (such as \\ud800)`;
    return `"rejected":${JSON.stringify(reason)},"payloadBase64":"${kept}"`;
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return `"payload":${text}`;
  // The SQL reads payloads as objects only, so anything else travels as bytes.
  return `"rejected":${JSON.stringify(`reading must be a JSON object, got ${typeName(value)}`)},"payloadBase64":"${Buffer.from(text).toString('base64')}"`;
}

/** The id a raw line without a usable message id gets: unique per raw object and line. */
export function lineId(rawName: string, line: number): string {
  return `${rawName}#line-${line}`;
}

/** What the pre-pass needs to know about the object. */
export interface CanonicalOptions {
  /** The raw object's name (its key's last part without extension): ids of unreadable lines carry it. */
  readonly rawName: string;
  /** Whether the dataset holds personal data: then reasons never quote the payload's text. */
  readonly personal: boolean;
  /**
   * The dataset whose formats map payloads that are not native (see functions/core/formats.ts).
   * @default - every payload is taken as native
   */
  readonly dataset?: Dataset;
  /**
   * For an `outFile` not ending in .gz: the most characters it may hold.
   * Past it (an object of arrays of tiny readings, each line many times its
   * share of the raw object), the pre-pass starts again and writes
   * `<outFile>.gz`, compressed, so scratch space stays bounded.
   * @default - no limit
   */
  readonly plainLimit?: number;
}

/** Thrown inside the pre-pass when its plain output outgrows {@link CanonicalOptions.plainLimit}. */
class PlainLimitReached extends Error {
  constructor() {
    super('the canonical output outgrew its plain limit');
    this.name = 'PlainLimitReached';
  }
}

/**
 * The pre-pass for raw objects the SQL cannot read as they are: it writes one
 * line per reading, with array payloads expanded (each element its own id),
 * base64 payloads decoded, objects re-serialised (duplicate keys resolved as
 * JSON.parse does), and lines that hold no readable reading marked
 * `rejected` with the reason. Every line it writes is well-formed Unicode.
 * An `outFile` ending in .gz is written compressed; otherwise see
 * {@link CanonicalOptions.plainLimit}. Returns the file written.
 */
export async function canonicaliseRawObject(rawFile: string, outFile: string, options: CanonicalOptions): Promise<string> {
  const compressed = outFile.endsWith('.gz');
  const limit = compressed ? undefined : options.plainLimit;
  try {
    await canonicaliseInto(rawFile, outFile, compressed, limit, options);
    return outFile;
  } catch (error) {
    if (!(error instanceof PlainLimitReached)) throw error;
    await rm(outFile, { force: true });
    await canonicaliseInto(rawFile, `${outFile}.gz`, true, undefined, options);
    return `${outFile}.gz`;
  }
}

async function canonicaliseInto(rawFile: string, outFile: string, gzip: boolean, limit: number | undefined, options: CanonicalOptions): Promise<void> {
  const out = new JsonLinesWriter(outFile, { gzip });
  try {
    let n = 0;
    for await (const { lines, plain } of lineBatches(rawFile)) {
      for (let l = 0; l < lines.length; l++) {
        n += 1;
        const line = lines[l] as string;
        if (isBlankLine(line)) continue;
        // Only an array payload waits for the disk within its line: no promise for the others.
        const within = canonicalLine(out, n, recordText(line), plain, options, limit);
        if (within !== undefined) await within;
        if (out.full) await flushWithin(out, limit);
      }
    }
    await out.close();
  } catch (error) {
    out.destroy();
    throw error;
  }
}

/** The base64 of a line that cannot be read, made well-formed first. */
function lineBytes(text: string): string {
  return Buffer.from(wellFormed(text)).toString('base64');
}

/**
 * The canonical lines of one raw line (record `n`). Where the line is
 * `plain` (see LineBatch), nothing parsed from it holds a lone surrogate,
 * so the checks for one are skipped for the readings it maps.
 */
function canonicalLine(out: JsonLinesWriter, n: number, text: string, plain: boolean, options: CanonicalOptions, limit: number | undefined): Promise<void> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    out.push({ messageId: lineId(options.rawName, n), rejected: `raw line ${n} is not valid JSON`, payloadBase64: lineBytes(text) });
    return;
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Partial<Record<keyof RawRecord, unknown>>;
  const { messageId, sensorId, receivedAt } = record;
  if (typeof messageId !== 'string' || typeof sensorId !== 'string' || typeof receivedAt !== 'string') {
    out.push({
      messageId: typeof messageId === 'string' && messageId !== '' ? wellFormed(messageId) : lineId(options.rawName, n),
      rejected: `raw line ${n} lacks its envelope (messageId, sensorId, receivedAt)`,
      payloadBase64: lineBytes(text),
    });
    return;
  }
  const envelope = plain ? { messageId, sensorId, receivedAt } : { messageId: wellFormed(messageId), sensorId: wellFormed(sensorId), receivedAt: wellFormed(receivedAt) };
  if (envelope.messageId !== messageId || envelope.sensorId !== sensorId || envelope.receivedAt !== receivedAt) {
    out.push({ ...envelope, rejected: `raw line ${n}: its envelope is not valid Unicode (a lone surrogate)`, payloadBase64: lineBytes(text) });
    return;
  }
  const decoded = decodeRecord(record as RawRecord, options);
  if (!decoded.ok) {
    out.push({ ...envelope, rejected: decoded.reason, ...(typeof record.payloadBase64 === 'string' ? { payloadBase64: wellFormed(record.payloadBase64) } : {}) });
    return;
  }
  // A payload sent as bytes is decoded from base64: the line's text says nothing of its strings.
  const plainValues = plain && record.payloadBase64 === undefined;
  const via = typeof record.via === 'string' ? record.via : undefined;
  const format = typeof record.format === 'string' ? record.format : undefined;
  const line: LineReadings = { out, options, decoded, envelope, plainValues, via, format, routed: via !== undefined || format !== undefined, envelopeText: undefined, bodies: undefined };
  if (decoded.values.length === 1) {
    emitReading(line, 0);
    return undefined;
  }
  return emitReadings(line, limit);
}

/** One raw line's readings as they are written, with what they share. */
interface LineReadings {
  readonly out: JsonLinesWriter;
  readonly options: CanonicalOptions;
  readonly decoded: DecodedPayload & { ok: true };
  readonly envelope: { readonly messageId: string; readonly sensorId: string; readonly receivedAt: string };
  /** Whether nothing parsed from the line can hold a lone surrogate (see LineBatch). */
  readonly plainValues: boolean;
  readonly via: string | undefined;
  readonly format: string | undefined;
  readonly routed: boolean;
  /**
   * One message's readings share the envelope text; an array of the same element many times over
   * (the shape of an amplification attempt) costs one serialisation per distinct element.
   */
  envelopeText: string | undefined;
  bodies: Map<string, string> | undefined;
}

/** The readings of an array payload, handed to the disk as they fill a batch. */
async function emitReadings(line: LineReadings, limit: number | undefined): Promise<void> {
  for (let i = 0; i < line.decoded.values.length; i++) {
    emitReading(line, i);
    if (line.out.full) await flushWithin(line.out, limit);
  }
}

/** The canonical lines of the i-th reading of a raw line. */
function emitReading(line: LineReadings, i: number): void {
  const { out, options, decoded, envelope, plainValues } = line;
  const value = decoded.values[i];
  const mappedReadings =
    options.dataset !== undefined && (line.routed || !isNativeShape(value))
      ? mapPayload(options.dataset, { messageId: readingId(decoded, i), sensorId: envelope.sensorId, receivedAt: envelope.receivedAt, via: line.via, format: line.format }, value)
      : undefined;
  // A refusal of a payload holding a lone surrogate says so, as for a native reading.
  if (mappedReadings !== undefined && !(anyRefused(mappedReadings) && illFormedAt(value) !== undefined)) {
    for (const mapped of mappedReadings) {
      if (plainValues && mapped.ok && isPlainObject(mapped.reading)) {
        // One serialisation of the whole line: the same text as the pieces below, in a fraction of the time.
        out.push(JSON.stringify({ messageId: mapped.messageId, sensorId: mapped.sensorId, receivedAt: envelope.receivedAt, format: mapped.format, payload: mapped.reading }));
        continue;
      }
      const head = plainValues
        ? `{"messageId":${JSON.stringify(mapped.messageId)},"sensorId":${JSON.stringify(mapped.sensorId)},"receivedAt":${JSON.stringify(envelope.receivedAt)}`
        : `{"messageId":${JSON.stringify(wellFormed(mapped.messageId))},"sensorId":${JSON.stringify(wellFormed(mapped.sensorId))},"receivedAt":${JSON.stringify(envelope.receivedAt)}`;
      const formatText = mapped.format !== undefined ? `,"format":${JSON.stringify(mapped.format)}` : '';
      if (mapped.ok) {
        const json = JSON.stringify(mapped.reading) ?? 'null';
        out.push(`${head}${formatText},${readingBody(mapped.reading, json, options)}}`);
      } else {
        const kept = Buffer.from(JSON.stringify(wellFormedValue(mapped.payload)) ?? 'null').toString('base64');
        out.push(`${head}${formatText},"rejected":${JSON.stringify(wellFormed(mapped.reason))},"payloadBase64":"${kept}"}`);
      }
    }
    return;
  }
  line.envelopeText ??= `,"sensorId":${JSON.stringify(envelope.sensorId)},"receivedAt":${JSON.stringify(envelope.receivedAt)},`;
  line.bodies ??= new Map<string, string>();
  const json = JSON.stringify(value) ?? 'null';
  let body = line.bodies.get(json);
  if (body === undefined) {
    body = readingBody(value, json, options);
    if (json.length <= 256 && line.bodies.size < 1024) line.bodies.set(json, body);
  }
  out.push(`{"messageId":${JSON.stringify(readingId(decoded, i))}${line.envelopeText}${body}}`);
}

function anyRefused(readings: readonly MappedReading[]): boolean {
  for (let i = 0; i < readings.length; i++) if (!(readings[i] as MappedReading).ok) return true;
  return false;
}

/**
 * {@link decodePayload}, with the common case first: a JSON object payload
 * that nests well within the limit is its one reading as it is.
 */
function decodeRecord(record: RawRecord, options: CanonicalOptions): DecodedPayload {
  if (record.payloadBytes === undefined && record.payloadBase64 === undefined && 'payload' in record) {
    const value = record.payload;
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && nestsWithin(value, 0)) return { ok: true, messageId: record.messageId, array: false, values: [value] };
  }
  return decodePayload(record, { personal: options.personal });
}

/** Whether no object or array lies MAX_NESTING or more levels below a value at `depth` (see nestsDeeperThan). */
function nestsWithin(value: object, depth: number): boolean {
  if (depth >= MAX_NESTING) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      if (typeof child === 'object' && child !== null && !nestsWithin(child, depth + 1)) return false;
    }
    return true;
  }
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null && !nestsWithin(child, depth + 1)) return false;
  }
  return true;
}

/** Flushes, unless the output has outgrown its limit. */
async function flushWithin(out: JsonLinesWriter, limit: number | undefined): Promise<void> {
  if (limit !== undefined && out.chars > limit) throw new PlainLimitReached();
  await out.flush();
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
