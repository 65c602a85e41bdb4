import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DuckDBBlobValue, DuckDBInstance } from '@duckdb/node-api';
import { canonicalPersonalValue, checkPseudonymKey, hmacPads, pseudonym } from '../../functions/core/pseudonymise.ts';
import { isoToMicros, microsToDate, microsToIso } from '../../functions/core/timestamps.ts';
import { TEST_KEY } from '../helpers/fixtures.ts';

describe('event times', () => {
  it('normalise any offset to UTC microseconds', () => {
    expect(isoToMicros('2026-11-29T11:00:00+01:00')).toBe(Date.UTC(2026, 10, 29, 10) * 1000);
    expect(isoToMicros('2026-11-29T10:00:00Z')).toBe(Date.UTC(2026, 10, 29, 10) * 1000);
    expect(isoToMicros('2026-11-29T05:30:00-04:30')).toBe(Date.UTC(2026, 10, 29, 10) * 1000);
  });

  it('keep microseconds and truncate finer fractions', () => {
    expect(isoToMicros('2026-11-29T10:00:00.123456789Z')! % 1_000_000).toBe(123456);
    expect(microsToIso(isoToMicros('2026-11-29T10:00:00.000001Z')!)).toBe('2026-11-29T10:00:00.000001Z');
  });

  it('put a reading after local midnight in the UTC date it belongs to', () => {
    expect(microsToDate(isoToMicros('2026-11-30T00:30:00+01:00')!)).toBe('2026-11-29');
  });

  it('refuse text that is not an ISO time with offset', () => {
    expect(isoToMicros('2026-11-29T10:00:00')).toBeUndefined();
    expect(isoToMicros('29/11/2026 10:00')).toBeUndefined();
  });
});

describe('pseudonyms', () => {
  it('are the HMAC-SHA256 of the canonical value', () => {
    expect(pseudonym(TEST_KEY, '1-abc-123')).toBe(createHmac('sha256', TEST_KEY).update('1ABC123').digest('hex'));
  });

  it('are the same for spellings of the same plate and differ between plates and keys', () => {
    expect(canonicalPersonalValue(' 1-abc.123 ')).toBe('1ABC123');
    expect(pseudonym(TEST_KEY, '1-ABC-123')).toBe(pseudonym(TEST_KEY, '1abc123'));
    expect(pseudonym(TEST_KEY, '1-ABC-123')).not.toBe(pseudonym(TEST_KEY, '1-ABC-124'));
    expect(pseudonym(TEST_KEY, '1-ABC-123')).not.toBe(pseudonym(Buffer.alloc(32, 8), '1-ABC-123'));
  });

  it('refuse a key shorter than 32 bytes', () => {
    expect(() => checkPseudonymKey(Buffer.alloc(16))).toThrow(/at least 32 bytes, got 16/);
  });

  it('come out the same from SQL (SHA-256 over the RFC 2104 pads) as from node:crypto', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    for (const key of [TEST_KEY, Buffer.alloc(100, 3)]) {
      const { ipad, opad } = hmacPads(key);
      const reader = await conn.runAndReadAll('SELECT sha256($opad || unhex(sha256($ipad || encode($m)))) AS h', {
        ipad: new DuckDBBlobValue(ipad),
        opad: new DuckDBBlobValue(opad),
        m: '1ABC123',
      });
      expect(reader.getRowObjectsJS()[0]?.h).toBe(pseudonym(key, '1ABC123'));
    }
    conn.closeSync();
    instance.closeSync();
  });
});

describe('the engine memory setting', () => {
  it('reads the units DuckDB reports its limit in', async () => {
    const { parseMemorySetting } = await import('../../functions/core/engine.ts');
    expect(parseMemorySetting('244.1 MiB')).toBeCloseTo(244.1 * 1024 * 1024);
    expect(parseMemorySetting('1.2 GiB')).toBeCloseTo(1.2 * 1024 ** 3);
    expect(parseMemorySetting('256MB')).toBe(256e6);
    expect(parseMemorySetting('lots')).toBeUndefined();
  });

  it('shrinks DuckDB’s limit to what the budget leaves, never above the engine’s own, and restores it', async () => {
    const { EngineBudget, parseMemorySetting } = await import('../../functions/core/engine.ts');
    const duckdb = await DuckDBInstance.create(':memory:', { memory_limit: '256MB' });
    const conn = await duckdb.connect();
    const limit = async () => parseMemorySetting(String((await conn.runAndReadAll("SELECT current_setting('memory_limit')")).getRowsJS()[0]?.[0]))!;
    const before = await limit();
    const rssMb = process.memoryUsage.rss() / 2 ** 20;
    // A budget a little above what the process holds already: DuckDB is left the floor.
    const tight = await EngineBudget.of(conn, Math.ceil(rssMb) + 10);
    await tight.fit();
    expect(await limit()).toBe(96 * 2 ** 20);
    await tight.restore();
    expect(Math.abs((await limit()) - before)).toBeLessThan(2 ** 20);
    // A generous budget: DuckDB keeps the limit it was created with, never more.
    const roomy = await EngineBudget.of(conn, 100_000);
    await roomy.fit();
    expect(Math.abs((await limit()) - before)).toBeLessThan(2 ** 20);
    conn.closeSync();
    duckdb.closeSync();
  });
});
