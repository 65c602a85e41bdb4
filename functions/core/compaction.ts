/**
 * Compaction: a dataset's event-date partition, written as one small curated
 * file per raw object, rewritten into few large Parquet files once it has
 * settled, de-duplicated by message id across the whole partition. The local
 * runtime and the scheduled Lambda both call {@link compactPartition} and
 * {@link partitionState}; they differ only in where the files live and how
 * the new ones replace the old.
 *
 * A partition's compacted files are grouped by arrival date (the UTC date of
 * `received_at`): `compacted-<arrival date>.parquet`. A reading's retention
 * clock starts when it arrives, as it did in the per-object file it came
 * from, so a group's file is rewritten only when readings of its own arrival
 * date join it or leave it; readings that arrive later land in a group of
 * their own, and an old group keeps its object's age.
 */
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import type { Dataset } from '../../datasets/index.ts';
import { curatedColumns, parquetSchemaSql, quoteIdent, quoteString } from './columns.ts';
import { zonePrefix } from './keys.ts';

/** When a partition counts as settled, and how its compacted files are written. */
export interface CompactionPolicy {
  /**
   * A partition settles once its day has been over this long and no raw
   * object has written into it for this long.
   */
  readonly settleMinutes: number;
  /**
   * A partition still being written into this long after its day ended (a
   * sensor that keeps sending old readings) is compacted anyway; what
   * arrives afterwards is merged at a later run.
   */
  readonly maxWaitHours: number;
  /** A group's file above this size is split into parts of about this size. */
  readonly targetFileMb: number;
  /** Rows per Parquet row group: the unit DuckDB and Athena skip by statistics. */
  readonly rowGroupRows: number;
}

/** The compaction policy unless told otherwise. */
export const COMPACTION_DEFAULTS: CompactionPolicy = Object.freeze({
  settleMinutes: 60,
  maxWaitHours: 48,
  targetFileMb: 128,
  // DuckDB's own default: about 85 sensors' day of one-a-minute readings per group once sorted by sensor.
  rowGroupRows: 122_880,
});

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const COMPACTED_NAME = /^compacted-(\d{4}-\d{2}-\d{2})(?:-(\d+))?\.parquet$/;

/** Where a dataset keeps the manifests of its compacted partitions: beside the partitions, never inside one (a query engine reads every file there). */
export function compactionManifestKey(datasetId: string, dt: string): string {
  if (!DATE.test(dt)) throw new Error(`invalid partition date: "${dt}"`);
  return `${zonePrefix('curated', datasetId)}_compaction/dt=${dt}.json`;
}

/** The prefix of one curated partition, with a trailing slash. */
export function partitionPrefix(datasetId: string, dt: string): string {
  if (!DATE.test(dt)) throw new Error(`invalid partition date: "${dt}"`);
  return `${zonePrefix('curated', datasetId)}dt=${dt}/`;
}

/** The name of a compacted file: its arrival-date group, and its part when the group is split. */
export function compactedFileName(arrivalDate: string, part = 0): string {
  return `compacted-${arrivalDate}${part > 0 ? `-${part}` : ''}.parquet`;
}

/** The arrival-date group of a compacted file's name; undefined for a per-object file. */
export function compactedGroupOf(name: string): string | undefined {
  return COMPACTED_NAME.exec(name)?.[1];
}

/** The raw object a per-object curated file came from (its name without `.parquet`). */
export function rawNameOfFragment(name: string): string {
  return name.replace(/\.parquet$/, '');
}

const Manifest = z.object({
  version: z.literal(1),
  dataset: z.string(),
  dt: z.string().regex(DATE),
  compactedAt: z.string(),
  /** Rows per arrival-date group after the last run. */
  groups: z.array(z.object({ arrivalDate: z.string().regex(DATE), rows: z.number().int().nonnegative(), files: z.array(z.string()) })),
  /** Every raw object whose rows were merged into the partition, over all runs. */
  sources: z.array(z.string()),
});

/** What a partition's compaction recorded: the transform reads it to leave a replayed object's rows out. */
export type CompactionManifest = z.infer<typeof Manifest>;

/** A manifest that is not what compaction writes. */
export class CompactionManifestError extends Error {
  constructor(key: string, problem: string) {
    super(`${key}: not a compaction manifest (${problem}); remove it and compact the partition again (npx datastroom compact --all)`);
    this.name = 'CompactionManifestError';
  }
}

/** Parses a manifest's text; throws {@link CompactionManifestError}. */
export function parseManifest(key: string, text: string): CompactionManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CompactionManifestError(key, error instanceof Error ? error.message : String(error));
  }
  const parsed = Manifest.safeParse(json);
  if (!parsed.success) throw new CompactionManifestError(key, z.prettifyError(parsed.error).replace(/\n/g, ' '));
  return parsed.data;
}

/**
 * Which raw objects' rows a partition's compacted files already hold. The
 * transform asks before it writes a partition's file: a replayed raw object
 * that is listed adds nothing.
 */
export interface CompactedSources {
  /** The raw object names merged into `dt`; empty where it was never compacted. */
  mergedInto(datasetId: string, dt: string): Promise<ReadonlySet<string>>;
}

/** One file of a curated partition as the store lists it. */
export interface PartitionFile {
  readonly name: string;
  readonly modifiedAt: Date;
  readonly bytes: number;
}

/** Whether a partition is due: the transform may still be writing it, it waits to settle, or there is nothing to do. */
export type PartitionState = 'due' | 'open' | 'settling' | 'compacted';

const MINUTE = 60_000;

/** The instant a partition's day ends (UTC midnight after it). */
export function endOfDay(dt: string): number {
  return Date.parse(`${dt}T00:00:00Z`) + 86_400_000;
}

/**
 * The state of a partition at `now`. It is due when it holds a per-object
 * file and it has settled: its day has been over for the settle time and no
 * raw object has written into it for as long (or its day ended more than
 * maxWaitHours ago, whatever is still arriving). `all` takes every
 * partition with a per-object file as due.
 */
export function partitionState(dt: string, files: readonly PartitionFile[], now: Date, policy: CompactionPolicy = COMPACTION_DEFAULTS, all = false): PartitionState {
  const fragments = files.filter((f) => compactedGroupOf(f.name) === undefined);
  if (fragments.length === 0) return 'compacted';
  if (all) return 'due';
  const sinceEnd = now.getTime() - endOfDay(dt);
  if (sinceEnd < 0) return 'open';
  const settle = policy.settleMinutes * MINUTE;
  if (sinceEnd < settle) return 'settling';
  if (sinceEnd >= policy.maxWaitHours * 60 * MINUTE) return 'due';
  const newest = Math.max(...fragments.map((f) => f.modifiedAt.getTime()));
  return now.getTime() - newest >= settle ? 'due' : 'settling';
}

/**
 * The compacted files of a dataset whose readings are past retention: a
 * group's readings arrived on its date, and they are removed when S3's
 * lifecycle would have removed the per-object files they came from (the
 * midnight UTC after arrival plus `retentionDays`), whatever the age of the
 * compacted object itself.
 */
export function expiredFiles(files: readonly PartitionFile[], now: Date, retentionDays: number): string[] {
  return files
    .filter((f) => {
      const arrival = compactedGroupOf(f.name);
      return arrival !== undefined && now.getTime() >= endOfDay(arrival) + retentionDays * 86_400_000;
    })
    .map((f) => f.name);
}

/** One input file of a compaction, as a local file. */
export interface CompactionInput {
  /** Its name in the partition. */
  readonly name: string;
  readonly file: string;
}

/** A partition to compact. */
export interface CompactionRequest {
  readonly dataset: Dataset;
  readonly dt: string;
  /** Every file of the partition to merge: compacted ones and per-object ones. */
  readonly inputs: readonly CompactionInput[];
  /** The partition's manifest before this run, if any. */
  readonly manifest?: CompactionManifest;
  /** An empty directory the new files are written to. */
  readonly workDir: string;
  /** @default COMPACTION_DEFAULTS */
  readonly policy?: CompactionPolicy;
  readonly now?: Date;
}

/** One file compaction wrote, to be stored in the partition under `name`. */
export interface CompactedFile {
  readonly name: string;
  readonly file: string;
  readonly rows: number;
}

/** What a compaction produced and what the store must do to put it in place. */
export interface CompactionResult {
  readonly dt: string;
  /** Rows read from the inputs. */
  readonly rowsIn: number;
  /** Rows in the partition afterwards. */
  readonly rowsOut: number;
  /** Rows removed because an earlier arrival of the same message id stands. */
  readonly duplicates: number;
  /** New or rewritten files: store each under its name (replacing a file of that name). */
  readonly written: readonly CompactedFile[];
  /** Compacted input files left exactly as they are. */
  readonly kept: readonly string[];
  /** Input files whose rows are now in `written` or `kept`: remove each once `written` is in place. */
  readonly replaced: readonly string[];
  /** The manifest to store once `written` is in place, before `replaced` is removed. */
  readonly manifest: CompactionManifest;
}

/**
 * Merges a partition's files: reads every input, removes duplicates by
 * message id across the whole partition (the first arrival by received_at
 * stands, as in the transform; on a tie, a row already compacted), and
 * writes each arrival-date group that changed as one Parquet file (or parts
 * of about targetFileMb) sorted by sensor and event time, snappy, with row
 * groups of rowGroupRows. A group that did not change keeps its file.
 * Columns are the registry's: a file written before a field was added reads
 * it as NULL.
 */
export async function compactPartition(conn: DuckDBConnection, request: CompactionRequest): Promise<CompactionResult> {
  // Kept in insertion order, a day's thousands of small files would each keep row groups of their own, with a
  // block per column: a day of a 5-second buffer runs out of memory. The rows are sorted when written anyway.
  const order = String((await conn.runAndReadAll("SELECT current_setting('preserve_insertion_order')")).getRowsJS()[0]?.[0] ?? 'true');
  await conn.run('SET preserve_insertion_order = false');
  try {
    return await compact(conn, request);
  } finally {
    await conn.run(`SET preserve_insertion_order = ${order === 'false' ? 'false' : 'true'}`);
  }
}

async function compact(conn: DuckDBConnection, request: CompactionRequest): Promise<CompactionResult> {
  const { dataset, dt, workDir } = request;
  const policy = request.policy ?? COMPACTION_DEFAULTS;
  // A per-object file of a raw object the partition already merged (a replay) holds rows the compacted files hold: removed unread.
  const merged = new Set(request.manifest?.sources ?? []);
  const stale = request.inputs.filter((i) => compactedGroupOf(i.name) === undefined && merged.has(rawNameOfFragment(i.name))).map((i) => i.name);
  const inputs = request.inputs.filter((i) => !stale.includes(i.name));
  if (inputs.every((i) => compactedGroupOf(i.name) !== undefined)) {
    const kept = inputs.map((i) => i.name);
    const manifest = request.manifest ?? { version: 1 as const, dataset: dataset.id, dt, compactedAt: (request.now ?? new Date()).toISOString(), groups: [], sources: [] };
    return { dt, rowsIn: 0, rowsOut: manifest.groups.reduce((n, g) => n + g.rows, 0), duplicates: 0, written: [], kept, replaced: stale, manifest };
  }
  const columns = curatedColumns(dataset);
  const list = `[${inputs.map((i) => quoteString(i.file)).join(', ')}]`;
  // The registry's schema, by name: no footer of the day's thousands of files is opened to learn it, and
  // a file written before a field was added reads it as NULL.
  const source = `read_parquet(${list}, schema = ${parquetSchemaSql(dataset)}, filename = true, hive_partitioning = false)`;
  const select = columns.map((c) => quoteIdent(c.name)).join(', ');
  const compactedPattern = quoteString(`[\\\\/]compacted-\\d{4}-\\d{2}-\\d{2}(-\\d+)?\\.parquet$`);
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE c_in AS
     SELECT ${select}, strftime(CAST(received_at AS DATE), '%Y-%m-%d') AS arrival,
       regexp_matches(filename, ${compactedPattern}) AS compacted, filename AS source
     FROM ${source}`,
  );
  // Only ids seen more than once are ranked (found by an 8-byte hash first, as in the transform).
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE c_drop AS
     SELECT rowid AS r, compacted, arrival FROM c_in
     WHERE hash(message_id) IN (SELECT h FROM (SELECT hash(message_id) AS h FROM c_in) GROUP BY h HAVING count(*) > 1)
     QUALIFY row_number() OVER (PARTITION BY message_id ORDER BY received_at, compacted DESC, source) > 1`,
  );
  const groupRows = (
    await conn.runAndReadAll(
      `SELECT arrival,
         (count(*) - (SELECT count(*) FROM c_drop d WHERE d.arrival = c_in.arrival))::BIGINT AS rows,
         count(*) FILTER (WHERE NOT compacted)::BIGINT AS fresh,
         (SELECT count(*) FROM c_drop d WHERE d.arrival = c_in.arrival AND d.compacted)::BIGINT AS lost,
         (SELECT count(*) FROM c_drop d WHERE d.arrival = c_in.arrival AND NOT d.compacted)::BIGINT AS fresh_dropped
       FROM c_in GROUP BY arrival ORDER BY arrival`,
    )
  ).getRowObjectsJS() as { arrival: string | null; rows: bigint; fresh: bigint; lost: bigint; fresh_dropped: bigint }[];
  const rowsIn = Number((await conn.runAndReadAll('SELECT count(*)::BIGINT FROM c_in')).getRowsJS()[0]?.[0] ?? 0);
  const duplicates = Number((await conn.runAndReadAll('SELECT count(*)::BIGINT FROM c_drop')).getRowsJS()[0]?.[0] ?? 0);
  await conn.run('DELETE FROM c_in WHERE rowid IN (SELECT r FROM c_drop)');

  const inputNames = inputs.map((i) => i.name);
  const compactedInputs = inputNames.filter((n) => compactedGroupOf(n) !== undefined);
  const written: CompactedFile[] = [];
  const rewritten = new Set<string>();
  const targetBytes = policy.targetFileMb * 1024 * 1024;
  for (const g of groupRows) {
    if (g.arrival === null) throw new Error(`compaction of ${dataset.id} dt=${dt}: a row has no received_at`);
    const freshKept = Number(g.fresh) - Number(g.fresh_dropped);
    if (freshKept === 0 && Number(g.lost) === 0) continue;
    rewritten.add(g.arrival);
    if (Number(g.rows) === 0) continue;
    written.push(...(await writeGroup(conn, columns.map((c) => quoteIdent(c.name)), g.arrival, Number(g.rows), workDir, policy, targetBytes)));
  }
  // A group whose compacted file lost every row, and groups found only in compacted files that are gone.
  const kept = compactedInputs.filter((n) => !rewritten.has(compactedGroupOf(n) ?? ''));
  const writtenNames = new Set(written.map((w) => w.name));
  const replaced = [...inputNames.filter((n) => !kept.includes(n) && !writtenNames.has(n)), ...stale];
  const fragments = inputNames.filter((n) => compactedGroupOf(n) === undefined).map(rawNameOfFragment);
  const groups = groupRows
    .filter((g) => Number(g.rows) > 0)
    .map((g) => {
      const arrivalDate = g.arrival ?? '';
      const files = rewritten.has(arrivalDate) ? written.filter((w) => compactedGroupOf(w.name) === arrivalDate).map((w) => w.name) : kept.filter((n) => compactedGroupOf(n) === arrivalDate);
      return { arrivalDate, rows: Number(g.rows), files };
    });
  const manifest: CompactionManifest = {
    version: 1,
    dataset: dataset.id,
    dt,
    compactedAt: (request.now ?? new Date()).toISOString(),
    groups,
    sources: [...new Set([...(request.manifest?.sources ?? []), ...fragments])].sort(),
  };
  await conn.run('DROP TABLE IF EXISTS c_in; DROP TABLE IF EXISTS c_drop');
  return { dt, rowsIn, rowsOut: rowsIn - duplicates, duplicates, written, kept, replaced, manifest };
}

/** Writes one arrival-date group sorted by sensor and time: one file, or parts when it outgrows the target. */
async function writeGroup(
  conn: DuckDBConnection,
  columnList: readonly string[],
  arrival: string,
  rows: number,
  workDir: string,
  policy: CompactionPolicy,
  targetBytes: number,
): Promise<CompactedFile[]> {
  const options = `(FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${Math.max(1, Math.floor(policy.rowGroupRows))})`;
  const order = 'ORDER BY sensor_id, ts, message_id';
  const where = `WHERE arrival = ${quoteString(arrival)}`;
  const whole = join(workDir, compactedFileName(arrival));
  await conn.run(`COPY (SELECT ${columnList.join(', ')} FROM c_in ${where} ${order}) TO ${quoteString(whole)} ${options}`);
  const size = statSync(whole).size;
  const parts = Math.ceil(size / targetBytes);
  if (parts <= 1) return [{ name: compactedFileName(arrival), file: whole, rows }];
  // Parts cut by sensor and time, so each part covers a range of sensors a query can skip.
  await conn.run(`CREATE OR REPLACE TEMP TABLE c_part AS SELECT *, ntile(${parts}) OVER (${order}) AS part FROM c_in ${where}`);
  const files: CompactedFile[] = [];
  for (let part = 1; part <= parts; part++) {
    const name = compactedFileName(arrival, part === 1 ? 0 : part - 1);
    const file = join(workDir, `part-${name}`);
    await conn.run(`COPY (SELECT ${columnList.join(', ')} FROM c_part WHERE part = ${part} ${order}) TO ${quoteString(file)} ${options}`);
    const count = Number((await conn.runAndReadAll(`SELECT count(*)::BIGINT FROM c_part WHERE part = ${part}`)).getRowsJS()[0]?.[0] ?? 0);
    files.push({ name, file, rows: count });
  }
  await conn.run('DROP TABLE c_part');
  await rm(whole, { force: true });
  return files;
}
