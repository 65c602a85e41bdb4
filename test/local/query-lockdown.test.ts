/**
 * The local query engine reads the curated and quarantine zones and nothing
 * else. Each forbidden thing is tried on a data dir the real platform filled
 * (raw plates in clear, the pseudonymisation key in state/): it is refused,
 * and not one file changes, in the data dir or outside it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirLayout } from '../../local/data-dir.ts';
import { LocalQueryEngine, QueryError, QueryRefusedError, READ_ONLY_TABLE_FUNCTIONS } from '../../local/query.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { fileTree, SEEDED_PLATE, seededDataDir } from '../helpers/data-dir.ts';

let dataDir: string;
let outside: string;
let engine: LocalQueryEngine;

beforeAll(async () => {
  ({ dataDir } = await seededDataDir());
  outside = await tempDir('datastroom-outside-', 'file');
  engine = await LocalQueryEngine.open(dataDir);
}, 60_000);

afterAll(() => engine.close());

const layout = () => dataDirLayout(dataDir);
const q = (s: string) => s.replaceAll("'", "''");

interface Forbidden {
  readonly name: string;
  readonly sql: () => string;
  readonly error: typeof QueryError;
  readonly message: RegExp;
}

const ONE_SELECT = /^query runs one SELECT per call/;
const ZONES_ONLY = /^Permission Error: Cannot access (?:file|directory)[\s\S]*\nquery may only read the curated and quarantine zones: /;
const NOT_CALLABLE = /^query may not call /;

const FORBIDDEN: Forbidden[] = [
  // Writing files, inside the zones (which DuckDB itself would allow) and outside.
  { name: 'COPY into the curated zone', sql: () => `COPY (SELECT * FROM anpr_passage) TO '${q(join(layout().zones.curated, 'leak.csv'))}'`, error: QueryRefusedError, message: /, not COPY: .*cannot write files/ },
  { name: 'COPY outside the data dir', sql: () => `COPY (SELECT 1) TO '${q(join(outside, 'out.csv'))}'`, error: QueryRefusedError, message: /, not COPY:/ },
  { name: 'EXPORT DATABASE (preparing it alone would create its directory)', sql: () => `EXPORT DATABASE '${q(join(layout().zones.quarantine, 'export'))}'`, error: QueryRefusedError, message: /, not EXPORT:/ },
  { name: 'EXPLAIN ANALYZE of a COPY (it would run the COPY)', sql: () => `EXPLAIN ANALYZE COPY (SELECT 1) TO '${q(join(layout().zones.curated, 'explained.csv'))}'`, error: QueryRefusedError, message: /, not EXPLAIN COPY:/ },
  { name: 'ATTACH a writable database in a zone', sql: () => `ATTACH '${q(join(layout().zones.curated, 'w.duckdb'))}' AS w`, error: QueryRefusedError, message: /, not ATTACH:/ },
  { name: 'ATTACH a database outside', sql: () => `ATTACH '${q(join(outside, 'w.duckdb'))}' AS w`, error: QueryRefusedError, message: /, not ATTACH:/ },
  { name: 'CREATE TABLE', sql: () => 'CREATE TABLE t AS SELECT * FROM air_quality', error: QueryRefusedError, message: /, not CREATE:/ },
  // A second statement behind a harmless one.
  { name: 'a COPY behind a SELECT', sql: () => `SELECT 1; COPY (SELECT 1) TO '${q(join(outside, 'second.csv'))}'`, error: QueryRefusedError, message: /got 2 statements: run them one at a time$/ },
  { name: 'two SELECTs', sql: () => 'SELECT 1; SELECT 2', error: QueryRefusedError, message: ONE_SELECT },
  // Table functions that write files or change the engine, and SQL run from text.
  { name: 'enable_logging to a file in a zone', sql: () => `SELECT * FROM enable_logging(storage = 'file', storage_path = '${q(join(layout().zones.curated, 'log.csv'))}')`, error: QueryRefusedError, message: /^query may not call enable_logging\(\)/ },
  { name: 'enable_profiling to a file in a zone', sql: () => `SELECT * FROM enable_profiling(save_location = '${q(join(layout().zones.curated, 'profile.json'))}', format = 'json')`, error: QueryRefusedError, message: NOT_CALLABLE },
  { name: 'a refused call deep in a CTE', sql: () => 'WITH a AS (SELECT * FROM (SELECT * FROM checkpoint())) SELECT * FROM a', error: QueryRefusedError, message: /^query may not call checkpoint\(\)/ },
  { name: 'SQL from text through query()', sql: () => `SELECT * FROM query('SELECT * FROM enable_logging()')`, error: QueryRefusedError, message: /^query may not call query\(\)/ },
  { name: 'a refused call under EXPLAIN ANALYZE', sql: () => 'EXPLAIN ANALYZE SELECT * FROM force_checkpoint()', error: QueryRefusedError, message: NOT_CALLABLE },
  // Reading outside the curated and quarantine zones.
  { name: 'the pseudonymisation key', sql: () => `SELECT * FROM read_text('${q(layout().keyFile)}')`, error: QueryError, message: ZONES_ONLY },
  { name: 'the key, by a path through the curated zone', sql: () => `SELECT * FROM read_text('${q(join(layout().zones.curated, '..', 'state', 'pseudonym.key'))}')`, error: QueryError, message: ZONES_ONLY },
  { name: 'the raw zone (clear-text plates)', sql: () => `SELECT * FROM read_json('${q(join(layout().zones.raw, '**', '*.jsonl'))}')`, error: QueryError, message: ZONES_ONLY },
  { name: 'the state database', sql: () => `SELECT * FROM read_blob('${q(layout().database)}')`, error: QueryError, message: ZONES_ONLY },
  { name: 'a listing of the whole data dir', sql: () => `SELECT * FROM glob('${q(join(dataDir, '**'))}')`, error: QueryError, message: ZONES_ONLY },
  { name: '/etc/passwd', sql: () => "SELECT * FROM read_csv('/etc/passwd')", error: QueryError, message: ZONES_ONLY },
  { name: 'a remote file', sql: () => "SELECT * FROM read_parquet('https://example.invalid/x.parquet')", error: QueryError, message: ZONES_ONLY },
  // Extensions and settings.
  { name: 'INSTALL', sql: () => 'INSTALL httpfs', error: QueryRefusedError, message: /, not INSTALL: .*install extensions$/ },
  { name: 'LOAD', sql: () => 'LOAD httpfs', error: QueryRefusedError, message: /, not LOAD:/ },
  { name: 'a function from an extension not loaded', sql: () => 'SELECT st_point(1, 2)', error: QueryError, message: /spatial extension[\s\S]*\nquery cannot install or load extensions/ },
  { name: 'turning external access back on', sql: () => 'SET enable_external_access = true', error: QueryRefusedError, message: /, not SET:/ },
  { name: 'unlocking the configuration', sql: () => 'RESET lock_configuration', error: QueryRefusedError, message: /, not RESET:/ },
  { name: 'a PRAGMA', sql: () => 'PRAGMA enable_profiling', error: QueryRefusedError, message: /, not PRAGMA:/ },
  // Nothing at all.
  { name: 'an empty statement', sql: () => '  -- nothing ', error: QueryRefusedError, message: /^no SQL statement given/ },
];

describe('query refuses', () => {
  it.each(FORBIDDEN.map((f) => [f.name, f] as const))('%s, and writes nothing', async (_name, f) => {
    const before = await fileTree(dataDir);
    const outsideBefore = await fileTree(outside);
    const error = await engine.query(f.sql()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(f.error);
    expect((error as Error).message).toMatch(f.message);
    expect(await fileTree(dataDir)).toEqual(before);
    expect(await fileTree(outside)).toEqual(outsideBefore);
  });

  it('never shows the key or a clear-text plate in an error', async () => {
    const key = (await readFile(layout().keyFile, 'utf8')).trim();
    for (const f of FORBIDDEN) {
      const message = await engine.query(f.sql()).then(
        () => '',
        (e: unknown) => String(e),
      );
      expect(message).not.toContain(key);
      expect(message).not.toContain(SEEDED_PLATE);
    }
  });

  it('keeps its settings locked: external access off, no extension autoloading', async () => {
    const { rows } = await engine.query(
      "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', 'lock_configuration', 'autoinstall_known_extensions', 'autoload_known_extensions', 'allow_community_extensions') ORDER BY name",
    );
    expect(rows).toEqual([
      ['allow_community_extensions', 'false'],
      ['autoinstall_known_extensions', 'false'],
      ['autoload_known_extensions', 'false'],
      ['enable_external_access', 'false'],
      ['lock_configuration', 'true'],
    ]);
  });
});

describe('query still answers', () => {
  it('from the dataset views, after every refusal above', async () => {
    for (const f of FORBIDDEN) await engine.query(f.sql()).catch(() => undefined);
    expect((await engine.query('SELECT count(*), sum(pm25) FROM air_quality')).rows).toEqual([[3, 60]]);
    const plates = await engine.query('SELECT DISTINCT plate FROM anpr_passage');
    expect(plates.rows).toHaveLength(1);
    expect(plates.rows[0]?.[0]).not.toBe(SEEDED_PLATE);
  });

  it('from the hourly views', async () => {
    const { rows } = await engine.query('SELECT sensor_id, sum(readings) FROM air_quality_hourly GROUP BY 1 ORDER BY 1');
    expect(rows).toEqual([
      ['aq-1', 2],
      ['aq-2', 1],
    ]);
  });

  it('with --param values bound to the placeholders, never spliced into the SQL', async () => {
    const { rows } = await engine.query('SELECT count(*) FROM air_quality WHERE sensor_id = ? AND pm25 > ?', ['aq-1', '15']);
    expect(rows).toEqual([[1]]);
    const injected = await engine.query('SELECT count(*) FROM air_quality WHERE sensor_id = ?', ["x'; COPY (SELECT 1) TO 'y.csv'; --"]);
    expect(injected.rows).toEqual([[0]]);
  });

  it('the quarantine zone, read by path', async () => {
    const glob = join(layout().zones.quarantine, 'air_quality', '*', '*.jsonl.gz');
    const { rows } = await engine.query(`SELECT reason FROM read_json('${q(glob)}')`);
    expect(rows).toEqual([['pm25 must be a number, got string "12,5"']]);
  });

  it('SHOW TABLES, DESCRIBE, SUMMARIZE and EXPLAIN ANALYZE', async () => {
    expect((await engine.query('SHOW TABLES')).rows.map((r) => r[0])).toContain('air_quality_hourly');
    expect((await engine.query('DESCRIBE anpr_passage')).rows.map((r) => r[0])).toContain('plate');
    expect((await engine.query('SUMMARIZE air_quality')).rows.length).toBeGreaterThan(0);
    const plan = await engine.query("EXPLAIN ANALYZE SELECT count(*) FROM air_quality WHERE sensor_id = 'aq-1'");
    expect(plan.columns).toEqual(['explain_key', 'explain_value']);
    // What the benchmark reads to show partition pruning.
    expect(String(plan.rows[0]?.[1])).toMatch(/Total Files Read: \d+/);
  });

  it('a syntax error with DuckDB’s own message', async () => {
    await expect(engine.query('SELEC 1')).rejects.toThrow(/^Parser Error: syntax error at or near "SELEC"/);
  });
});

describe('the read-only table functions', () => {
  it('are all functions this DuckDB has', async () => {
    const { rows } = await engine.query("SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type IN ('table', 'table_macro')");
    const known = new Set(rows.map((r) => String(r[0])));
    expect([...READ_ONLY_TABLE_FUNCTIONS].filter((name) => !known.has(name))).toEqual([]);
  });
});
