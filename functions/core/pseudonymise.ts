import { createHash, createHmac } from 'node:crypto';

/** Bytes of a pseudonymisation key; shorter keys are refused. */
export const PSEUDONYM_KEY_BYTES = 32;

/** A pseudonymisation key that is missing or too short. */
export class PseudonymKeyError extends Error {
  constructor(detail: string) {
    super(`pseudonymisation key: ${detail}`);
    this.name = 'PseudonymKeyError';
  }
}

/** Checks a key's length; returns it. */
export function checkPseudonymKey(key: Uint8Array): Uint8Array {
  if (key.byteLength < PSEUDONYM_KEY_BYTES) {
    throw new PseudonymKeyError(`needs at least ${PSEUDONYM_KEY_BYTES} bytes, got ${key.byteLength}`);
  }
  return key;
}

/**
 * The canonical form of a personal value before hashing: upper case, without
 * spaces, dots and hyphens, so "1-abc-123" and "1ABC123" (the same plate) get
 * the same pseudonym.
 */
export function canonicalPersonalValue(value: string): string {
  return value.toUpperCase().replace(/[\s.-]/g, '');
}

/** Keyed pseudonym (HMAC-SHA256, hex) of a personal value; stable for a given key. */
export function pseudonym(key: Uint8Array, value: string): string {
  return createHmac('sha256', key).update(canonicalPersonalValue(value)).digest('hex');
}

/**
 * The HMAC inner and outer padded keys (RFC 2104), so an engine with only
 * SHA-256 (DuckDB, Athena) computes the same pseudonym:
 * sha256(opad || sha256(ipad || message)).
 */
export function hmacPads(key: Uint8Array): { ipad: Buffer; opad: Buffer } {
  checkPseudonymKey(key);
  const block = Buffer.alloc(64);
  // RFC 2104: a key longer than the block is hashed first.
  block.set(key.byteLength > 64 ? createHash('sha256').update(key).digest() : key);
  return { ipad: Buffer.from(block.map((b) => b ^ 0x36)), opad: Buffer.from(block.map((b) => b ^ 0x5c)) };
}
