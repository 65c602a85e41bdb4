/**
 * The transform: one raw object in, curated Parquet per event date and one
 * quarantine object out. The local runtime and the Lambda handler both call
 * {@link transformRawObject}; they differ only in where the bytes come from
 * and where the outputs go.
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isUtf8 } from 'node:buffer';
import { DuckDBBlobValue, type DuckDBConnection, type DuckDBInstance } from '@duckdb/node-api';
import { z } from 'zod';
import { NATIVE_FORMAT, PARTITION_COLUMN, type Dataset, type FieldKind } from '../../datasets/index.ts';
import { curatedColumns, DUCKDB_TYPES, quoteIdent, quoteString, type Column } from './columns.ts';
import type { CompactedSources } from './compaction.ts';
import { EngineBudget, TRANSFORM_MEMORY_BUDGET_MB } from './engine.ts';
import type { RawRecord } from './envelope.ts';
import { curatedKey, parseRawKey, quarantineKey } from './keys.ts';
import { hmacPads } from './pseudonymise.ts';
import { isNativeShape, mapPayload } from './formats.ts';
import { vendorReader, type VendorReader } from './formats-sql.ts';
import {
  canonicaliseRawObject,
  illFormedAt,
  mayHoldKey,
  isBlankLine,
  JsonLinesWriter,
  lineId,
  numberedLines,
  recordsAt,
  recordText,
  wellFormed,
  wellFormedValue,
} from './raw-lines.ts';
import {
  decodePayload,
  hasPersonalData,
  judgeReading,
  quarantinePayload,
  TRANSFORM_DEFAULTS,
  MAX_NESTING,
  nestsDeeperThan,
  type CuratedRow,
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
   * What the transform's process may hold in all: DuckDB's limit shrinks to
   * fit what the rest of the process leaves of it.
   * @default TRANSFORM_MEMORY_BUDGET_MB
   */
  readonly memoryBudgetMb?: number;
  /**
   * A table (see {@link claimsTableSql}) remembering which raw object first
   * carried each message id, so a duplicate in a later object is removed too.
   * Its owner keeps it bounded to a short redelivery window
   * ({@link pruneClaimsSql}): older duplicates are left to compaction.
   * @default - duplicates are removed within each raw object only
   */
  readonly claimsTable?: string;
  /**
   * Which raw objects each partition's compacted files already hold: a
   * replayed object listed there writes nothing into that partition.
   * @default - no partition counts as compacted; every output is written
   */
  readonly compacted?: CompactedSources;
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

/**
 * Removes claims older than a number of minutes, bounding the table. The
 * lookup scans the claims of the window, so its cost follows the window, not
 * the days of history: a QoS 1 redelivery comes within minutes of the first
 * copy, and a duplicate that comes later is removed when its partition is
 * compacted.
 */
export function pruneClaimsSql(table: string, minutes: number): string {
  return `DELETE FROM ${table} WHERE claimed_at < now()::TIMESTAMP - INTERVAL ${Math.max(1, Math.floor(minutes))} MINUTE`;
}

/**
 * Transforms one raw object. Safe to repeat: the same input gives the same
 * keys holding the same rows (their order within a file may differ, as the
 * writer runs in parallel), so a replay overwrites and never adds a copy.
 * No reading can fail the object: whatever its bytes, each is curated,
 * quarantined with a reason, or counted as a duplicate. Memory does not grow
 * with the object: refused readings and the outputs stream through files.
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
  const budget = await EngineBudget.of(conn, env.memoryBudgetMb ?? TRANSFORM_MEMORY_BUDGET_MB);
  try {
    // The partitioned writer flushes each row group as it fills instead of holding half a million
    // rows per partition, and keeps enough files open that no partition is split (a year of late data).
    // Insertion order is what maps a staged row to its line in the object (rowid = position): never off here.
    await conn.run(`SET preserve_insertion_order = true; SET partitioned_write_flush_threshold = ${ROW_GROUP_ROWS}; SET partitioned_write_max_open_files = 1000`);
    const stage = async (file: string, vendor?: VendorReader) => {
      await budget.fit();
      await conn.run(`CREATE OR REPLACE TEMP TABLE t_in AS ${stagingSelect(dataset, policy, readJson(file, vendor?.payloadType), vendor)}`, params);
    };
    let source = request.rawFile;
    let canonicalised = false;
    const canonicalise = async () => {
      // Plain text while it stays within twice the raw object (mapped readings are smaller than what they
      // came in), which DuckDB reads faster; compressed past that, so scratch holds a few times the raw
      // object, not a hundred times (arrays of tiny readings).
      const plainLimit = 2 * (await stat(request.rawFile)).size + CANONICAL_PLAIN_SLACK;
      source = await canonicaliseRawObject(request.rawFile, join(workDir, 'canonical.jsonl'), { rawName: raw.name, personal: hasPersonalData(dataset), dataset, plainLimit });
      canonicalised = true;
      try {
        await stage(source);
      } catch (error) {
        if (!isInputError(error)) throw error;
        // A reading the pre-pass let through and DuckDB's reader still refuses: it goes to quarantine alone.
        source = await isolateUnreadable(conn, source, workDir, raw.name);
        await stage(source);
      }
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
      // An object whose first reading is in another format is mapped by the SQL where the dataset's formats
      // compile (formats-sql.ts), else by the pre-pass; a read the SQL cannot be sure of fails to the pre-pass.
      const vendor = vendorOf(dataset);
      if (await startsNative(request.rawFile)) await stage(source);
      else if (vendor !== undefined) {
        // The scan for keys the SQL does not read runs beside the SQL; where one may be there, the pre-pass maps the object.
        const [held, failed] = await Promise.all([
          mayHoldKey(request.rawFile, vendor.hiddenKeys),
          stage(source, vendor).then(
            () => undefined,
            (error: unknown) => error,
          ),
        ]);
        if (held) await canonicalise();
        else if (failed !== undefined) throw failed;
      } else await canonicalise();
      counts = await staged();
      if (counts.unread > 0 && !canonicalised) {
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
    await budget.fit();
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
    // The refused rows, by their position in the object (the staging table keeps record order), to a
    // file the reference judge streams through: a million refused readings must not become a million objects.
    const refusedFile = join(workDir, 'refused.jsonl.gz');
    await budget.fit();
    if (totals.kept > totals.accepted) {
      await conn.run(
        `COPY (SELECT rowid::BIGINT AS position, message_id AS id FROM t_in WHERE NOT ok ORDER BY rowid) TO ${quoteString(refusedFile)} (FORMAT json, COMPRESSION gzip)`,
      );
    }

    const columns = curatedColumns(dataset);
    const columnList = columns.map((c) => quoteIdent(c.name)).join(', ');
    const curatedDir = join(workDir, 'curated');
    // One pass writes every event date: a file per partition (enough open files that none is split).
    // Snappy: the codec every Parquet reader has (Athena, Power BI, pyarrow, hyparquet).
    const writeCurated = (withRescued: boolean) =>
      conn.runAndReadAll(
        `COPY (SELECT ${columnList}, ${PARTITION_COLUMN} FROM t_in WHERE ok
               ${withRescued ? `UNION ALL SELECT ${columnList}, ${PARTITION_COLUMN} FROM t_rescued` : ''})
         TO ${quoteString(curatedDir)} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (${PARTITION_COLUMN}), RETURN_STATS)`,
      );
    const quarantineFile = join(workDir, 'quarantine.jsonl.gz');
    const rescuedFile = join(workDir, 'rescued.jsonl');
    // The writer works in DuckDB's threads while the reference judge reads the refused rows here.
    const [firstWrite, judged] = await Promise.all([
      writeCurated(false),
      totals.kept > totals.accepted
        ? judgeRefused(request, env, policy, source, !canonicalised, refusedFile, { quarantine: quarantineFile, rescued: rescuedFile })
        : { rescued: 0, quarantined: 0 },
    ]);
    if (judged.rescued + judged.quarantined !== totals.kept - totals.accepted) {
      throw new Error(`${key}: ${totals.kept - totals.accepted} readings were refused, the judge read ${judged.rescued + judged.quarantined}; the object changed while it was read`);
    }
    let copied = firstWrite;
    if (judged.rescued > 0) {
      // Rare: rows only the reference judge accepts. Write again, with them.
      await conn.run(`CREATE OR REPLACE TEMP TABLE t_rescued AS ${rescuedSelect(columns, rescuedFile)}`);
      await rm(curatedDir, { recursive: true, force: true });
      copied = await writeCurated(true);
    }

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
      // A replay into a partition compaction already merged this object into: its rows are there.
      if (env.compacted && (await env.compacted.mergedInto(dataset.id, dt)).has(raw.name)) continue;
      outputs.push({ zone: 'curated', key: curatedKey(raw, dt), file, rows });
    }
    if (judged.quarantined > 0) {
      outputs.push({ zone: 'quarantine', key: quarantineKey(raw), file: quarantineFile, rows: judged.quarantined });
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
      curated: totals.accepted + judged.rescued,
      quarantined: judged.quarantined,
      outputs,
      canonicalised,
    };
  } finally {
    await budget.restore().catch(() => undefined);
    conn.closeSync();
  }
}

/**
 * Whether the first record of a raw object holds a native reading, so the
 * SQL reads the object as it is; one that does not (another format, or a
 * route that names one) tells that the object came from an integration and
 * its payloads need mapping. Only a hint: every line is still tested.
 */
async function startsNative(file: string): Promise<boolean> {
  for await (const { text } of numberedLines(file)) {
    if (isBlankLine(text)) continue;
    let record: Partial<Record<keyof RawRecord, unknown>>;
    try {
      record = z.record(z.string(), z.unknown()).parse(JSON.parse(recordText(text)));
    } catch {
      return true;
    }
    if (record.via !== undefined || (record.format !== undefined && record.format !== NATIVE_FORMAT)) return false;
    const decoded = decodePayload({
      messageId: '',
      sensorId: '',
      receivedAt: '',
      ...('payload' in record ? { payload: record.payload } : {}),
      ...(typeof record.payloadBase64 === 'string' ? { payloadBase64: record.payloadBase64 } : {}),
      ...(typeof record.payloadBytes === 'number' ? { payloadBytes: record.payloadBytes } : {}),
    });
    return !decoded.ok || decoded.values.length === 0 || isNativeShape(decoded.values[0]) || typeof decoded.values[0] !== 'object';
  }
  return true;
}

/**
 * The longest raw line the reader accepts: a payload at IoT Core's limit,
 * base64-encoded, plus the envelope. The reader's buffers are sized by it,
 * so it bounds memory too.
 */
const MAX_RAW_LINE_BYTES = 1024 * 1024;

/** What the plain canonical output may hold beyond twice its raw object: a small object's envelopes. */
const CANONICAL_PLAIN_SLACK = 1024 * 1024;

/** Rows per Parquet row group (DuckDB's default): the unit Athena and DuckDB skip by statistics. */
const ROW_GROUP_ROWS = 122_880;

function readJson(file: string, payloadType?: string): string {
  return `read_json(${quoteString(file)}, format = 'newline_delimited', columns = ${rawColumns(payloadType)}, maximum_object_size = ${MAX_RAW_LINE_BYTES})`;
}

const vendorReaders = new WeakMap<Dataset, { reader: VendorReader | undefined }>();

/** A dataset's formats compiled to SQL, once per dataset. */
function vendorOf(dataset: Dataset): VendorReader | undefined {
  let known = vendorReaders.get(dataset);
  if (!known) {
    known = { reader: vendorReader(dataset) };
    vendorReaders.set(dataset, known);
  }
  return known.reader;
}

function isInputError(error: unknown): boolean {
  return error instanceof Error && /Invalid Input Error|Conversion Error|JSON/i.test(error.message);
}

/** Where the judge writes what it decides: quarantine records and rescued rows, as JSON lines. */
interface JudgeOutputs {
  readonly quarantine: string;
  readonly rescued: string;
}

/** The refused positions DuckDB wrote, in batches. */
async function* refusedPositions(file: string): AsyncGenerator<{ position: number; id: string }[]> {
  let batch: { position: number; id: string }[] = [];
  for await (const { text } of numberedLines(file)) {
    if (text === '') continue;
    const { position, id } = JSON.parse(text) as { position: unknown; id: unknown };
    if (typeof position !== 'number' || typeof id !== 'string') throw new Error(`${file}: not a refused position: ${text.slice(0, 80)}`);
    batch.push({ position, id });
    if (batch.length === 4096) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * What the judge decided about a line, apart from its message id: a rescued
 * row, or a quarantine record as JSON text around the id.
 */
type Decision = { readonly row: CuratedRow } | { readonly before: string; readonly after: string };

/** Lines this short are remembered with their decision, so the same garbage sent many times is judged once. */
const REMEMBERED_LINE_CHARS = 1024;
const REMEMBERED_LINES = 4096;

/**
 * The slow path: every reading the SQL did not accept goes through the
 * reference judge, which curates it after all or quarantines it with a
 * reason. It streams: positions in, records read at them, decisions written
 * out as they are made.
 */
async function judgeRefused(
  request: TransformRequest,
  env: TransformEnv,
  policy: TransformPolicy,
  source: string,
  rawSource: boolean,
  refusedFile: string,
  outputs: JudgeOutputs,
): Promise<{ rescued: number; quarantined: number }> {
  const quarantined = new JsonLinesWriter(outputs.quarantine, { gzip: true });
  const rescued = new JsonLinesWriter(outputs.rescued);
  // A decision depends on the line but not on its message id: the rest of the line is the key.
  const remembered = new Map<string, Decision>();
  try {
    for await (const found of recordsAt(source, refusedPositions(refusedFile))) {
      for (const { position, id, text: line } of found) {
        const text = recordText(line);
        const idJson = JSON.stringify(id);
        const head = `{"messageId":${idJson}`;
        const key = text.length <= REMEMBERED_LINE_CHARS && text.startsWith(head) ? text.slice(head.length) : undefined;
        let decision = key === undefined ? undefined : remembered.get(key);
        if (decision === undefined) {
          const record = JSON.parse(text) as Partial<Record<keyof RawRecord | 'rejected', unknown>>;
          if (record.messageId !== id) throw new Error(`${request.rawKey}: record ${position} is not message ${id}; the object changed while it was read`);
          decision = decide(request, env, policy, id, record, rawSource);
          if (key !== undefined) {
            if (remembered.size >= REMEMBERED_LINES) remembered.clear();
            remembered.set(key, decision);
          }
        }
        if ('row' in decision) rescued.push(JSON.stringify({ ...decision.row, message_id: id }, keepNegativeZero));
        else quarantined.push(`${decision.before}${idJson}${decision.after}`);
      }
      await Promise.all([quarantined.full && quarantined.flush(), rescued.full && rescued.flush()]);
    }
    await Promise.all([quarantined.close(), rescued.close()]);
  } catch (error) {
    quarantined.destroy();
    rescued.destroy();
    throw error;
  }
  return { rescued: rescued.count, quarantined: quarantined.count };
}

/**
 * The reference judge on one refused line: a rescued row, or its quarantine
 * record. Whatever it writes is well-formed Unicode, so every JSON reader
 * (DuckDB, Athena) can read the quarantine object back.
 */
function decide(
  request: TransformRequest,
  env: TransformEnv,
  policy: TransformPolicy,
  id: string,
  record: Partial<Record<keyof RawRecord | 'rejected', unknown>>,
  rawLine: boolean,
): Decision {
  const { dataset, rawKey } = request;
  const personal = hasPersonalData(dataset);
  const str = (v: unknown) => (typeof v === 'string' ? wellFormed(v) : null);
  const sensorId = str(record.sensorId);
  const receivedAt = str(record.receivedAt);
  const payloadBase64 = typeof record.payloadBase64 === 'string' ? record.payloadBase64 : null;
  const rejected = str(record.rejected);
  const reject = (reason: string, value?: { payload: unknown } | { payloadBase64: string }): Decision => {
    let kept: Partial<QuarantineRecord> = {};
    if (value !== undefined && 'payload' in value && nestsDeeperThan(value.payload, MAX_NESTING)) {
      kept = { payloadOmitted: `nests deeper than ${MAX_NESTING} levels; the raw object keeps it` };
    } else if (value !== undefined && 'payload' in value) {
      kept = { payload: wellFormedValue(quarantinePayload(dataset, value.payload, env.pseudonymKey)) };
    } else if (value !== undefined && personal) {
      kept = { payloadOmitted: 'undecodable payload of a personal-data dataset; the raw object keeps it' };
    } else if (value !== undefined) {
      kept = { payloadBase64: wellFormed(value.payloadBase64) };
    }
    // The record's JSON with the message id left out, in QuarantineRecord's order.
    const rest = JSON.stringify({ sensorId, receivedAt, rawKey, ...kept });
    return { before: `{"reason":${JSON.stringify(wellFormed(reason))},"messageId":`, after: `,${rest.slice(1)}` };
  };
  if (rejected !== null) return reject(rejected, payloadBase64 !== null ? readableBytes(payloadBase64) : undefined);
  const raw: RawRecord = {
    messageId: id,
    sensorId: sensorId ?? '',
    receivedAt: receivedAt ?? '',
    ...('payload' in record ? { payload: record.payload } : {}),
    ...(payloadBase64 !== null ? { payloadBase64 } : {}),
    ...(typeof record.payloadBytes === 'number' ? { payloadBytes: record.payloadBytes } : {}),
    ...(typeof record.format === 'string' ? { format: wellFormed(record.format) } : {}),
  };
  const decoded = decodePayload(raw, { personal });
  if (decoded.ok && (decoded.array || illFormedAt(decoded.values[0]) !== undefined)) {
    // Only the pre-pass expands arrays and replaces lone surrogates, and the SQL sends every payload
    // that may hold either there: judging one here as a single reading would make its outcome depend
    // on its neighbours, so it fails loudly instead.
    throw new Error(`${rawKey}: message ${id} holds ${decoded.array ? 'an array' : 'a lone surrogate'} the SQL did not send to the pre-pass`);
  }
  if (!decoded.ok) return reject(decoded.reason, raw.payloadBase64 !== undefined ? readableBytes(raw.payloadBase64) : { payload: raw.payload });
  const via = typeof record.via === 'string' ? wellFormed(record.via) : undefined;
  if (rawLine && (via !== undefined || raw.format !== undefined || !isNativeShape(decoded.values[0]))) {
    // A raw line in another format (the SQL mapped and refused it, or left it): mapped as the pre-pass maps it, then judged.
    const mapped = mapPayload(dataset, { messageId: id, sensorId: raw.sensorId, receivedAt: raw.receivedAt, via, format: raw.format }, decoded.values[0]);
    const [only] = mapped;
    if (mapped.length !== 1 || only === undefined || only.messageId !== id) {
      throw new Error(`${rawKey}: message ${id} holds ${mapped.length} readings or another id, which the SQL did not send to the pre-pass`);
    }
    if (!only.ok) return reject(only.reason, { payload: decoded.values[0] });
    const judged = judgeReading(dataset, { ...raw, sensorId: only.sensorId, format: only.format }, only.reading, { policy, pseudonymKey: env.pseudonymKey });
    return judged.ok ? { row: judged.row } : reject(judged.reason, { payload: only.reading });
  }
  const judgement = judgeReading(dataset, raw, decoded.values[0], { policy, pseudonymKey: env.pseudonymKey });
  return judgement.ok ? { row: judgement.row } : reject(judgement.reason, { payload: decoded.values[0] });
}

/** JSON has no -0; a rescued row keeps it as text, which the reader casts back. */
function keepNegativeZero(_key: string, value: unknown): unknown {
  return value === 0 && Object.is(value, -0) ? '-0' : value;
}

/** Bytes shown as JSON where they are UTF-8 JSON, else kept as base64. */
function readableBytes(base64: string): { payload: unknown } | { payloadBase64: string } {
  const bytes = Buffer.from(base64, 'base64');
  if (isUtf8(bytes)) {
    try {
      return { payload: wellFormedValue(JSON.parse(bytes.toString('utf8'))) };
    } catch {
      // not JSON: fall through to base64
    }
  }
  return { payloadBase64: base64 };
}

/** The rows the reference judge rescued, read back typed from its JSON lines (timestamps are microseconds). */
function rescuedSelect(columns: readonly Column[], file: string): string {
  const all = [...columns, { name: PARTITION_COLUMN, kind: 'varchar' as const, comment: '' }];
  const readAs = (c: { kind: FieldKind }) => (c.kind === 'timestamp' ? 'BIGINT' : DUCKDB_TYPES[c.kind]);
  const types = all.map((c) => `${quoteString(c.name)}: ${quoteString(readAs(c))}`).join(', ');
  const select = all.map((c) => {
    const v = quoteIdent(c.name);
    if (c.kind === 'timestamp') return `make_timestamp(${v}) AS ${v}`;
    if (c.name === PARTITION_COLUMN) return `CAST(${v} AS DATE) AS ${v}`;
    return v;
  });
  return `SELECT ${select.join(', ')} FROM read_json(${quoteString(file)}, format = 'newline_delimited', columns = {${types}}, maximum_object_size = ${MAX_RAW_LINE_BYTES})`;
}

/**
 * The last resort for a canonical object DuckDB's reader still refuses: every
 * line it cannot read as JSON (or that is too long) is replaced by a rejected
 * record, so the rest of the object goes on. Returns the file to stage.
 */
async function isolateUnreadable(conn: DuckDBConnection, file: string, workDir: string, rawName: string): Promise<string> {
  // One VARCHAR per line, in file order: a delimiter and quote that JSON text never holds unescaped.
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE t_lines AS SELECT line FROM read_csv(${quoteString(file)}, columns = {'line': 'VARCHAR'},
       header = false, auto_detect = false, delim = E'\\x01', quote = '', escape = '', max_line_size = ${4 * MAX_RAW_LINE_BYTES})`,
  );
  const badFile = join(workDir, 'unreadable.jsonl');
  await conn.run(
    `COPY (SELECT rowid::BIGINT AS position, json_valid(line) AS valid FROM t_lines
           WHERE NOT coalesce(json_valid(line), false) OR strlen(line) > ${MAX_RAW_LINE_BYTES} ORDER BY rowid)
     TO ${quoteString(badFile)} (FORMAT json)`,
  );
  await conn.run('DROP TABLE t_lines');
  const bad = new Set<number>();
  for await (const { text } of numberedLines(badFile)) if (text !== '') bad.add(z.object({ position: z.number() }).parse(JSON.parse(text)).position);
  const out = new JsonLinesWriter(join(workDir, 'readable.jsonl.gz'), { gzip: true });
  try {
    let position = 0;
    for await (const { text } of numberedLines(file)) {
      if (!bad.has(position)) {
        await out.write(text);
      } else {
        const record = JSON.parse(text) as Record<string, unknown>;
        const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
        const payload = 'payload' in record ? Buffer.from(JSON.stringify(record.payload) ?? 'null').toString('base64') : str(record.payloadBase64);
        await out.write({
          messageId: str(record.messageId) ?? lineId(rawName, position + 1),
          sensorId: str(record.sensorId),
          receivedAt: str(record.receivedAt),
          rejected: 'the JSON reader cannot read this reading (it is not valid JSON to DuckDB, or too long)',
          ...(payload !== undefined ? { payloadBase64: payload } : {}),
        });
      }
      position += 1;
    }
    await out.close();
  } catch (error) {
    out.destroy();
    throw error;
  }
  return out.file;
}
