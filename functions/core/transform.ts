/**
 * The transform: one raw object in, curated Parquet per event date and one
 * quarantine object out. The local runtime and the Lambda handler both call
 * {@link transformRawObject}; they differ only in where the bytes come from
 * and where the outputs go.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { isUtf8 } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import {
  DuckDBBlobValue,
  DuckDBTimestampValue,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBInstance,
} from '@duckdb/node-api';
import { PARTITION_COLUMN, type Dataset } from '../../datasets/index.ts';
import { curatedColumns, DUCKDB_TYPES, quoteIdent, quoteString, type Column } from './columns.ts';
import type { RawRecord } from './envelope.ts';
import { curatedKey, parseRawKey, quarantineKey } from './keys.ts';
import { hmacPads } from './pseudonymise.ts';
import {
  decodePayload,
  hasPersonalData,
  judgeReading,
  quarantinePayload,
  TRANSFORM_DEFAULTS,
  type CuratedRow,
  MAX_NESTING,
  nestsDeeperThan,
  typeName,
  type TransformPolicy,
} from './reading.ts';
import { rawColumns, SQL_PARAMS, stagingSelect } from './transform-sql.ts';

/** One raw object to transform. */
export interface TransformRequest {
  readonly dataset: Dataset;
  /** Its key in the raw zone; names the outputs, so a replay overwrites them. */
  readonly rawKey: string;
  /** A local file holding its bytes. */
  readonly rawFile: string;
  /** An empty directory the outputs are written to; the caller moves them into the zones. */
  readonly workDir: string;
}

/** What the transform runs with. */
export interface TransformEnv {
  readonly duckdb: DuckDBInstance;
  readonly pseudonymKey: Uint8Array;
  /** @default TRANSFORM_DEFAULTS */
  readonly policy?: TransformPolicy;
  /**
   * A table (see {@link claimsTableSql}) remembering which raw object first
   * carried each message id, so a duplicate in a later object is removed too.
   * @default - duplicates are removed within each raw object only
   */
  readonly claimsTable?: string;
}

/** One object the transform produced, ready to be stored under `key`. */
export interface TransformOutput {
  readonly zone: 'curated' | 'quarantine';
  readonly key: string;
  readonly file: string;
  readonly rows: number;
}

/** Counts of one transform; received = curated + quarantined + duplicates. */
export interface TransformCounts {
  /** Readings in the object (an array payload counts each element). */
  readonly received: number;
  readonly duplicates: number;
  readonly curated: number;
  readonly quarantined: number;
}

export interface TransformResult extends TransformCounts {
  readonly rawKey: string;
  readonly outputs: readonly TransformOutput[];
  /** Whether the object needed the line-by-line pre-pass (arrays, undecodable or duplicate-key payloads). */
  readonly canonicalised: boolean;
}

/** A quarantined reading, as stored in the quarantine zone (one JSON object per line). */
export interface QuarantineRecord {
  readonly reason: string;
  readonly messageId: string;
  readonly sensorId: string | null;
  readonly receivedAt: string | null;
  readonly rawKey: string;
  readonly payload?: unknown;
  readonly payloadBase64?: string;
  /** Set where the payload is left out; the raw object keeps the original. */
  readonly payloadOmitted?: string;
}

/** The DDL of the claims table the transform de-duplicates across objects with. */
export function claimsTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (dataset VARCHAR NOT NULL, message_id VARCHAR NOT NULL, owner VARCHAR NOT NULL, claimed_at TIMESTAMP NOT NULL DEFAULT now()::TIMESTAMP)`;
}

/** Removes claims older than a number of days, bounding the table. */
export function pruneClaimsSql(table: string, days: number): string {
  return `DELETE FROM ${table} WHERE claimed_at < now()::TIMESTAMP - INTERVAL ${Math.max(1, Math.floor(days))} DAY`;
}

/** A row the fast path refused, with what the reference judge needs of it. */
interface RejectedLine {
  messageId: string;
  sensorId: string | null;
  receivedAt: string | null;
  /** The payload as JSON; undefined where the record has none. */
  payload: unknown;
  payloadBase64: string | null;
  payloadBytes: number | null;
  rejected: string | null;
}

/**
 * Transforms one raw object. Safe to repeat: the same input gives the same
 * keys holding the same rows (their order within a file may differ, as the
 * writer runs in parallel), so a replay overwrites and never adds a copy.
 */
export async function transformRawObject(request: TransformRequest, env: TransformEnv): Promise<TransformResult> {
  const { dataset, rawKey: key, workDir } = request;
  const raw = parseRawKey(key);
  if (raw.datasetId !== dataset.id) throw new Error(`raw object ${key} does not belong to dataset "${dataset.id}"`);
  const policy = env.policy ?? TRANSFORM_DEFAULTS;
  const { ipad, opad } = hmacPads(env.pseudonymKey);
  // DuckDB refuses parameters a statement does not use, and only personal fields use the keys.
  const params = hasPersonalData(dataset)
    ? { [SQL_PARAMS.ipad]: new DuckDBBlobValue(ipad), [SQL_PARAMS.opad]: new DuckDBBlobValue(opad) }
    : undefined;
  const conn = await env.duckdb.connect();
  try {
    // The partitioned writer flushes each row group as it fills instead of holding half a million
    // rows per partition, and keeps enough files open that no partition is split (a year of late data).
    await conn.run(`SET partitioned_write_flush_threshold = ${ROW_GROUP_ROWS}; SET partitioned_write_max_open_files = 1000`);
    const stage = (file: string) =>
      conn.run(
        `CREATE OR REPLACE TEMP TABLE t_in AS ${stagingSelect(dataset, policy, readJson(dataset, file))}`,
        params,
      );
    let source = request.rawFile;
    let canonicalised = false;
    const canonicalise = async () => {
      source = join(workDir, 'canonical.jsonl');
      await canonicaliseRawObject(request.rawFile, source);
      canonicalised = true;
      await stage(source);
    };
    // Readings staged, and how many of them the SQL could not read as they are (arrays, bytes, a torn envelope).
    const staged = async () =>
      (
        await conn.runAndReadAll(
          `SELECT count(*)::INTEGER AS received,
             count(*) FILTER (WHERE message_id IS NULL OR sensor_id IS NULL OR received_at IS NULL OR undecoded)::INTEGER AS unread
           FROM t_in`,
        )
      ).getRowObjectsJS()[0] as { received: number; unread: number };
    let counts: { received: number; unread: number };
    try {
      await stage(source);
      counts = await staged();
      if (counts.unread > 0) {
        await canonicalise();
        counts = await staged();
      }
    } catch (error) {
      if (canonicalised || !isInputError(error)) throw error;
      await canonicalise();
      counts = await staged();
    }
    const { received } = counts;

    const claims = env.claimsTable;
    const claimParams = { ds: dataset.id, owner: key };
    if (claims) {
      await conn.run(
        `DELETE FROM t_in WHERE message_id IN (SELECT message_id FROM ${claims} WHERE dataset = $ds AND owner <> $owner)`,
        claimParams,
      );
    }
    // Only ids seen more than once are ranked. Candidates are found by an 8-byte hash of the id,
    // which keeps the common case (no duplicates) to one small aggregate; the ranking compares ids.
    await conn.run(
      `DELETE FROM t_in WHERE rowid IN (
         SELECT rowid FROM t_in
         WHERE hash(message_id) IN (SELECT h FROM (SELECT hash(message_id) AS h FROM t_in) GROUP BY h HAVING count(*) > 1)
         QUALIFY row_number() OVER (PARTITION BY message_id ORDER BY received_at) > 1)`,
    );
    const totals = (
      await conn.runAndReadAll('SELECT count(*)::INTEGER AS kept, count(*) FILTER (WHERE ok)::INTEGER AS accepted FROM t_in')
    ).getRowObjectsJS()[0] as { kept: number; accepted: number };
    // The refused rows, by their position in the object (the staging table keeps record order).
    const refused =
      totals.kept > totals.accepted
        ? ((await conn.runAndReadAll('SELECT rowid::BIGINT AS position, message_id AS id FROM t_in WHERE NOT ok ORDER BY rowid')).getRowObjectsJS() as {
            position: bigint;
            id: string;
          }[])
        : [];

    const columns = curatedColumns(dataset);
    const columnList = columns.map((c) => quoteIdent(c.name)).join(', ');
    const curatedDir = join(workDir, 'curated');
    // One pass writes every event date: a file per partition (enough open files that none is split).
    // Snappy: the codec every Parquet reader has (Athena, Power BI, pyarrow, hyparquet).
    const writeCurated = (withRescued: boolean) =>
      conn.runAndReadAll(
        `COPY (SELECT ${columnList}, ${PARTITION_COLUMN} FROM t_in WHERE ok
               ${withRescued ? `UNION ALL SELECT ${columnList}, CAST(${PARTITION_COLUMN} AS DATE) FROM t_rescued` : ''})
         TO ${quoteString(curatedDir)} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (${PARTITION_COLUMN}), RETURN_STATS)`,
      );
    // The writer works in DuckDB's threads while the reference judge reads the refused rows here.
    const [firstWrite, judged] = await Promise.all([writeCurated(false), judgeRefused(request, env, policy, source, refused)]);
    let copied = firstWrite;
    if (judged.rescued.length > 0) {
      // Rare: rows only the reference judge accepts. Write again, with them.
      await createRescuedTable(conn, columns, judged.rescued);
      await rm(curatedDir, { recursive: true, force: true });
      copied = await writeCurated(true);
    }
    const { rescued, quarantined } = judged;

    const outputs: TransformOutput[] = [];
    const files = copied.getRowObjectsJS() as { filename: string; count: bigint | number }[];
    const byDate = new Map<string, { file: string; rows: number }>();
    for (const { filename, count: rows } of files) {
      const dt = /[\\/]dt=(\d{4}-\d{2}-\d{2})[\\/][^\\/]+$/.exec(filename)?.[1];
      if (!dt) throw new Error(`unexpected output file ${filename}`);
      if (byDate.has(dt)) throw new Error(`partition dt=${dt} was written as more than one file`);
      byDate.set(dt, { file: filename, rows: Number(rows) });
    }
    for (const [dt, { file, rows }] of [...byDate].sort(([a], [b]) => a.localeCompare(b))) {
      outputs.push({ zone: 'curated', key: curatedKey(raw, dt), file, rows });
    }
    if (quarantined.length > 0) {
      const file = join(workDir, 'quarantine.jsonl');
      await writeFile(file, quarantined.map((r) => JSON.stringify(r)).join('\n') + '\n');
      outputs.push({ zone: 'quarantine', key: quarantineKey(raw), file, rows: quarantined.length });
    }
    if (claims) {
      await conn.run(
        `INSERT INTO ${claims} (dataset, message_id, owner)
         SELECT $ds, message_id, $owner FROM t_in
         WHERE NOT EXISTS (SELECT 1 FROM ${claims} c WHERE c.dataset = $ds AND c.message_id = t_in.message_id)`,
        claimParams,
      );
    }
    return {
      rawKey: key,
      received,
      duplicates: received - totals.kept,
      curated: totals.accepted + rescued.length,
      quarantined: quarantined.length,
      outputs,
      canonicalised,
    };
  } finally {
    conn.closeSync();
  }
}


/**
 * The longest raw line the reader accepts: a payload at IoT Core's limit,
 * base64-encoded, plus the envelope. The reader's buffers are sized by it,
 * so it bounds memory too.
 */
const MAX_RAW_LINE_BYTES = 1024 * 1024;

/** Rows per Parquet row group (DuckDB's default): the unit Athena and DuckDB skip by statistics. */
const ROW_GROUP_ROWS = 122_880;

function readJson(dataset: Dataset, file: string): string {
  return `read_json(${quoteString(file)}, format = 'newline_delimited', columns = ${rawColumns(dataset)}, maximum_object_size = ${MAX_RAW_LINE_BYTES})`;
}

function isInputError(error: unknown): boolean {
  return error instanceof Error && /Invalid Input Error|Conversion Error|JSON/i.test(error.message);
}

/**
 * The slow path: every reading the SQL did not accept goes through the
 * reference judge, which curates it after all or quarantines it with a reason.
 */
async function judgeRefused(
  request: TransformRequest,
  env: TransformEnv,
  policy: TransformPolicy,
  source: string,
  positions: readonly { position: bigint; id: string }[],
): Promise<{ rescued: CuratedRow[]; quarantined: QuarantineRecord[] }> {
  const { dataset, rawKey } = request;
  const rescued: CuratedRow[] = [];
  const quarantined: QuarantineRecord[] = [];
  if (positions.length === 0) return { rescued, quarantined };
  // Read again from the object by position: carrying their text in the staging table would cost every row.
  const texts = await recordsAt(source, positions.map((p) => Number(p.position)));
  const refused = positions.map(({ position, id }): RejectedLine => {
    const text = texts.get(Number(position));
    const record = text === undefined ? undefined : (JSON.parse(text) as Partial<Record<keyof RawRecord | 'rejected', unknown>>);
    if (record?.messageId !== id) throw new Error(`${rawKey}: record ${position} is not message ${id}; the object changed while it was read`);
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    return {
      messageId: id,
      sensorId: str(record.sensorId),
      receivedAt: str(record.receivedAt),
      payload: 'payload' in record ? (record.payload as unknown) : undefined,
      payloadBase64: str(record.payloadBase64),
      payloadBytes: typeof record.payloadBytes === 'number' ? record.payloadBytes : null,
      rejected: str(record.rejected),
    };
  });
  const personal = hasPersonalData(dataset);
  for (const line of refused) {
    const base = {
      messageId: line.messageId ?? '',
      sensorId: line.sensorId,
      receivedAt: line.receivedAt,
      rawKey,
    };
    const reject = (reason: string, value?: { payload: unknown } | { payloadBase64: string }) => {
      if (value === undefined) {
        quarantined.push({ reason, ...base });
      } else if ('payload' in value && nestsDeeperThan(value.payload, MAX_NESTING)) {
        quarantined.push({ reason, ...base, payloadOmitted: `nests deeper than ${MAX_NESTING} levels; the raw object keeps it` });
      } else if ('payload' in value) {
        quarantined.push({ reason, ...base, payload: quarantinePayload(dataset, value.payload, env.pseudonymKey) });
      } else if (personal) {
        quarantined.push({ reason, ...base, payloadOmitted: 'undecodable payload of a personal-data dataset; the raw object keeps it' });
      } else {
        quarantined.push({ reason, ...base, payloadBase64: value.payloadBase64 });
      }
    };
    if (line.rejected !== null) {
      reject(line.rejected, line.payloadBase64 !== null ? readableBytes(line.payloadBase64) : undefined);
      continue;
    }
    const record: RawRecord = {
      messageId: base.messageId,
      sensorId: line.sensorId ?? '',
      receivedAt: line.receivedAt ?? '',
      ...(line.payload !== undefined ? { payload: line.payload } : {}),
      ...(line.payloadBase64 !== null ? { payloadBase64: line.payloadBase64 } : {}),
      ...(line.payloadBytes !== null ? { payloadBytes: line.payloadBytes } : {}),
    };
    const decoded = decodePayload(record);
    if (!decoded.ok || decoded.readings.length !== 1) {
      // The pre-pass has expanded arrays and decoded bytes, so only a refusal can remain here.
      reject(
        decoded.ok ? 'payload holds more than one reading' : decoded.reason,
        record.payloadBase64 !== undefined ? readableBytes(record.payloadBase64) : { payload: record.payload },
      );
      continue;
    }
    const judgement = judgeReading(dataset, record, decoded.readings[0]?.value, { policy, pseudonymKey: env.pseudonymKey });
    if (judgement.ok) rescued.push(judgement.row);
    else reject(judgement.reason, { payload: decoded.readings[0]?.value });
  }
  return { rescued, quarantined };
}

/**
 * The text of the records at the given positions (0-based, in file order) of
 * a JSON-lines object, gzip or not. Blank lines are not records, as for
 * DuckDB's reader; only the wanted lines become strings.
 */
export async function recordsAt(file: string, positions: readonly number[]): Promise<Map<number, string>> {
  const wanted = [...new Set(positions)].sort((a, b) => a - b);
  const found = new Map<number, string>();
  if (wanted.length === 0) return found;
  let record = 0;
  let next = 0;
  const line = (data: Buffer, from: number, to: number) => {
    let i = from;
    while (i < to && (data[i] === 0x20 || data[i] === 0x09 || data[i] === 0x0d)) i++;
    if (i === to) return; // blank: not a record
    if (record === wanted[next]) {
      found.set(record, data.toString('utf8', from, to));
      next += 1;
    }
    record += 1;
  };
  // Scans every line with offsets into one reused buffer: no allocation per line or per chunk, as
  // this runs beside the Parquet writer and must not add to the transform's peak memory.
  let buffer = Buffer.allocUnsafe(1024 * 1024);
  let filled = 0;
  const scan = (chunk: Buffer | undefined): boolean => {
    if (chunk) {
      if (filled + chunk.length > buffer.length) {
        const bigger = Buffer.allocUnsafe(Math.max(buffer.length * 2, filled + chunk.length));
        buffer.copy(bigger, 0, 0, filled);
        buffer = bigger;
      }
      chunk.copy(buffer, filled);
      filled += chunk.length;
    }
    let start = 0;
    for (let nl = buffer.indexOf(0x0a, start); nl !== -1 && nl < filled; nl = buffer.indexOf(0x0a, start)) {
      line(buffer, start, nl);
      start = nl + 1;
      if (next === wanted.length) return true;
    }
    buffer.copy(buffer, 0, start, filled);
    filled -= start;
    return false;
  };
  if (file.endsWith('.gz')) {
    for await (const chunk of createReadStream(file).pipe(createGunzip()) as AsyncIterable<Buffer>) if (scan(chunk)) return found;
  } else {
    const handle = await open(file, 'r');
    try {
      const chunk = Buffer.allocUnsafe(512 * 1024);
      for (let read = (await handle.read(chunk, 0, chunk.length)).bytesRead; read > 0; read = (await handle.read(chunk, 0, chunk.length)).bytesRead) {
        if (scan(chunk.subarray(0, read))) return found;
      }
    } finally {
      await handle.close();
    }
  }
  if (filled > 0) line(buffer, 0, filled);
  return found;
}

/** Bytes shown as JSON where they are UTF-8 JSON, else kept as base64. */
function readableBytes(base64: string): { payload: unknown } | { payloadBase64: string } {
  const bytes = Buffer.from(base64, 'base64');
  if (isUtf8(bytes)) {
    try {
      return { payload: JSON.parse(bytes.toString('utf8')) as unknown };
    } catch {
      // not JSON: fall through to base64
    }
  }
  return { payloadBase64: base64 };
}

async function createRescuedTable(conn: DuckDBConnection, columns: readonly Column[], rows: readonly CuratedRow[]): Promise<void> {
  const all = [...columns, { name: PARTITION_COLUMN, kind: 'varchar' as const, comment: '' }];
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE t_rescued (${all.map((c) => `${quoteIdent(c.name)} ${DUCKDB_TYPES[c.kind]}`).join(', ')})`,
  );
  if (rows.length === 0) return;
  const appender = await conn.createAppender('t_rescued');
  for (const row of rows) {
    for (const column of all) appendCell(appender, column, row[column.name] ?? null);
    appender.endRow();
  }
  appender.closeSync();
}

function appendCell(appender: DuckDBAppender, column: Column, value: string | number | boolean | null): void {
  if (value === null) return appender.appendNull();
  switch (column.kind) {
    case 'timestamp':
      return appender.appendTimestamp(new DuckDBTimestampValue(BigInt(value as number)));
    case 'double':
      return appender.appendDouble(value as number);
    case 'bigint':
      return appender.appendBigInt(BigInt(value as number));
    case 'boolean':
      return appender.appendBoolean(value as boolean);
    case 'varchar':
      return appender.appendVarchar(String(value));
  }
}

/**
 * The pre-pass for raw objects the SQL cannot read as they are: it writes one
 * line per reading, with array payloads expanded (each element its own id),
 * base64 payloads decoded, objects re-serialised (duplicate keys resolved as
 * JSON.parse does), and lines that hold no reading marked `rejected` with the reason.
 */
export async function canonicaliseRawObject(rawFile: string, outFile: string): Promise<void> {
  const out = createWriteStream(outFile);
  const write = async (line: object) => {
    if (!out.write(JSON.stringify(line) + '\n')) await once(out, 'drain');
  };
  const bytes = createReadStream(rawFile);
  const lines = createInterface({ input: rawFile.endsWith('.gz') ? bytes.pipe(createGunzip()) : bytes, crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n += 1;
    if (text.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      await write({ messageId: `line-${n}`, rejected: `raw line ${n} is not valid JSON`, payloadBase64: Buffer.from(text).toString('base64') });
      continue;
    }
    const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Partial<Record<keyof RawRecord, unknown>>;
    const { messageId, sensorId, receivedAt } = record;
    if (typeof messageId !== 'string' || typeof sensorId !== 'string' || typeof receivedAt !== 'string') {
      await write({
        messageId: typeof messageId === 'string' ? messageId : `line-${n}`,
        rejected: `raw line ${n} lacks its envelope (messageId, sensorId, receivedAt)`,
        payloadBase64: Buffer.from(text).toString('base64'),
      });
      continue;
    }
    const envelope = { messageId, sensorId, receivedAt };
    const decoded = decodePayload(record as RawRecord);
    if (!decoded.ok) {
      await write({ ...envelope, rejected: decoded.reason, ...(typeof record.payloadBase64 === 'string' ? { payloadBase64: record.payloadBase64 } : {}) });
      continue;
    }
    for (const reading of decoded.readings) {
      const id = { ...envelope, messageId: reading.messageId };
      if (typeof reading.value === 'object' && reading.value !== null && !Array.isArray(reading.value)) {
        await write({ ...id, payload: reading.value });
      } else {
        // The SQL reads payloads as objects only, so anything else travels as bytes.
        const bytes = Buffer.from(JSON.stringify(reading.value) ?? 'null');
        await write({ ...id, rejected: `reading must be a JSON object, got ${typeName(reading.value)}`, payloadBase64: bytes.toString('base64') });
      }
    }
  }
  out.end();
  await once(out, 'finish');
}

