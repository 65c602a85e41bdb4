/**
 * Object keys of the three zones. The same keys are used in S3 and under the
 * local data directory, so every adapter and the catalog read them from here.
 */

/**
 * Pseudo-dataset for messages on a Datastroom topic that names no known
 * dataset: kept in raw as they arrived, reported in quarantine.
 */
export const UNROUTED = '_unrouted';

export const ZONES = ['raw', 'curated', 'quarantine'] as const;
export type Zone = (typeof ZONES)[number];

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const BASE = /^[A-Za-z0-9_.-]+$/;
// The local ingest writes .jsonl; the delivery stream writes gzip, .jsonl.gz.
const RAW_KEY = /^raw\/([a-z_][a-z0-9_]*)\/dt=(\d{4}-\d{2}-\d{2})\/([A-Za-z0-9_.-]+?)\.jsonl(?:\.gz)?$/;

/** A raw object key that does not follow `raw/<dataset>/dt=<date>/<name>.jsonl`. */
export class RawKeyError extends Error {
  constructor(readonly key: string) {
    super(`not a raw object key: "${key}" (expected raw/<dataset>/dt=YYYY-MM-DD/<name>.jsonl or .jsonl.gz)`);
    this.name = 'RawKeyError';
  }
}

/** The parts of a raw key: dataset, arrival date and object name. */
export interface RawKeyParts {
  readonly datasetId: string;
  /** Arrival date (UTC) of the object's first record. */
  readonly dt: string;
  /** Name without extension; curated and quarantine objects reuse it, so a replay overwrites. */
  readonly name: string;
}

/** Prefix of a dataset in a zone, with a trailing slash. */
export function zonePrefix(zone: Zone, datasetId: string): string {
  return `${zone}/${datasetId}/`;
}

/** Key of a raw object, partitioned by arrival date. */
export function rawKey(parts: RawKeyParts): string {
  checkParts(parts);
  return `${zonePrefix('raw', parts.datasetId)}dt=${parts.dt}/${parts.name}.jsonl`;
}

/** Parses a raw key; throws {@link RawKeyError} for anything else. */
export function parseRawKey(key: string): RawKeyParts {
  const m = RAW_KEY.exec(key);
  if (!m) throw new RawKeyError(key);
  return { datasetId: m[1] as string, dt: m[2] as string, name: m[3] as string };
}

/** Key of the curated Parquet object that one raw object contributes to one event date. */
export function curatedKey(raw: RawKeyParts, eventDate: string): string {
  checkParts({ ...raw, dt: eventDate });
  return `${zonePrefix('curated', raw.datasetId)}dt=${eventDate}/${raw.name}.parquet`;
}

/**
 * Key of the quarantine object of one raw object, under its arrival date:
 * gzip JSON lines, so refused garbage takes a fraction of its size on disk
 * (DuckDB, Athena and zcat read it as it is).
 */
export function quarantineKey(raw: RawKeyParts): string {
  checkParts(raw);
  return `${zonePrefix('quarantine', raw.datasetId)}dt=${raw.dt}/${raw.name}.jsonl.gz`;
}

function checkParts(parts: RawKeyParts): void {
  if (!/^[a-z_][a-z0-9_]*$/.test(parts.datasetId)) throw new Error(`invalid dataset id in key: "${parts.datasetId}"`);
  if (!DATE.test(parts.dt)) throw new Error(`invalid date in key: "${parts.dt}"`);
  if (!BASE.test(parts.name)) throw new Error(`invalid object name in key: "${parts.name}"`);
}
