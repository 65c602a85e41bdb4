/**
 * SQL on the deployed lake through Athena: start in a workgroup, poll with
 * backoff, page through every result, stop the query when the caller aborts.
 */
import {
  GetQueryExecutionCommand,
  GetWorkGroupCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaClient,
  type ColumnInfo,
  type Row,
} from '@aws-sdk/client-athena';

/** Athena's price per terabyte scanned, and the minimum it bills per query. */
export const ATHENA_USD_PER_TB = 5;
export const ATHENA_MIN_BILLED_BYTES = 10 * 1024 * 1024;

/** A query Athena reports as failed or cancelled, with Athena's own reason. */
export class AthenaQueryError extends Error {
  constructor(
    readonly queryExecutionId: string,
    readonly state: string,
    reason: string,
  ) {
    super(`Athena query ${queryExecutionId} ${state.toLowerCase()}: ${reason}`);
    this.name = 'AthenaQueryError';
  }
}

/** A query's answer and what it cost. */
export interface AthenaResult {
  readonly queryExecutionId: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
  readonly scannedBytes: number;
  /** Dollars at $5 per TB, with Athena's 10 MB minimum. */
  readonly costUsd: number;
}

export interface AthenaQueryRequest {
  readonly sql: string;
  readonly workgroup: string;
  readonly database: string;
  /** Values for the query's ? placeholders, passed as execution parameters, never spliced into SQL. */
  readonly parameters?: readonly string[];
  /** Aborting stops the query on Athena. */
  readonly signal?: AbortSignal;
  /** Called with each state Athena reports (QUEUED, RUNNING, ...). */
  readonly onState?: (state: string) => void;
  /** Waits between polls. @default - a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

const NUMBER_TYPES = new Set(['tinyint', 'smallint', 'integer', 'int', 'bigint', 'double', 'float', 'real', 'decimal']);

function value(text: string | undefined, column: ColumnInfo | undefined): unknown {
  if (text === undefined) return null;
  const type = column?.Type?.toLowerCase() ?? 'varchar';
  if (type === 'boolean') return text === 'true';
  if (NUMBER_TYPES.has(type)) {
    const n = Number(text);
    return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n)) ? n : text;
  }
  return text;
}

/** Dollars a query costs: scanned bytes (at least the 10 MB minimum) at $5 per TB. */
export function athenaCost(scannedBytes: number): number {
  return (Math.max(scannedBytes, ATHENA_MIN_BILLED_BYTES) / 1024 ** 4) * ATHENA_USD_PER_TB;
}

/**
 * The first of `candidates` (workgroup names) the caller may use, asking
 * Athena for each in turn: a workgroup the caller's policies do not grant
 * answers AccessDeniedException. Undefined when none is granted.
 */
export async function firstUsableWorkgroup(athena: AthenaClient, candidates: readonly string[]): Promise<string | undefined> {
  for (const name of candidates) {
    try {
      await athena.send(new GetWorkGroupCommand({ WorkGroup: name }));
      return name;
    } catch (error) {
      if (!(error instanceof Error && error.name === 'AccessDeniedException')) throw error;
    }
  }
  return undefined;
}

/** Runs a query to the end and returns every row. */
export async function runAthenaQuery(athena: AthenaClient, request: AthenaQueryRequest): Promise<AthenaResult> {
  const sleep = request.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const started = await athena.send(
    new StartQueryExecutionCommand({
      QueryString: request.sql,
      WorkGroup: request.workgroup,
      QueryExecutionContext: { Database: request.database, Catalog: 'AwsDataCatalog' },
      ...(request.parameters && request.parameters.length > 0 ? { ExecutionParameters: [...request.parameters] } : {}),
    }),
  );
  const id = started.QueryExecutionId ?? '';
  const stop = () => void athena.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => undefined);
  request.signal?.addEventListener('abort', stop, { once: true });
  try {
    let delay = 200;
    let scannedBytes = 0;
    for (;;) {
      if (request.signal?.aborted) throw new AthenaQueryError(id, 'CANCELLED', 'stopped by the user');
      const { QueryExecution: execution } = await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
      const state = execution?.Status?.State ?? 'UNKNOWN';
      request.onState?.(state);
      scannedBytes = execution?.Statistics?.DataScannedInBytes ?? 0;
      if (state === 'SUCCEEDED') break;
      if (state === 'FAILED' || state === 'CANCELLED') {
        const reason = execution?.Status?.AthenaError?.ErrorMessage ?? execution?.Status?.StateChangeReason ?? 'no reason given';
        throw new AthenaQueryError(id, state, reason);
      }
      await sleep(delay);
      delay = Math.min(Math.round(delay * 1.5), 5000);
    }

    let columns: ColumnInfo[] = [];
    const rows: unknown[][] = [];
    let nextToken: string | undefined;
    let first = true;
    do {
      const page = await athena.send(new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: nextToken, MaxResults: 1000 }));
      if (first) columns = page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? [];
      let pageRows: Row[] = page.ResultSet?.Rows ?? [];
      // A SELECT's first row repeats the column labels.
      if (first && pageRows[0]?.Data?.every((d, i) => d.VarCharValue === (columns[i]?.Label ?? columns[i]?.Name))) pageRows = pageRows.slice(1);
      for (const row of pageRows) rows.push((row.Data ?? []).map((d, i) => value(d.VarCharValue, columns[i])));
      nextToken = page.NextToken;
      first = false;
    } while (nextToken);
    return { queryExecutionId: id, columns: columns.map((c) => c.Label ?? c.Name ?? ''), rows, scannedBytes, costUsd: athenaCost(scannedBytes) };
  } finally {
    request.signal?.removeEventListener('abort', stop);
  }
}
