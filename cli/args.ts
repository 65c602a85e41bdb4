import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_DATA_DIR } from '../local/data-dir.ts';

/** A command line the user must correct; exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

/** Edit distance between two words (insertions, deletions, substitutions, swaps of neighbours). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((d[i - 1]?.[j] ?? 0) + 1, (d[i]?.[j - 1] ?? 0) + 1, (d[i - 1]?.[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (d[i - 2]?.[j - 2] ?? 0) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return d[a.length]?.[b.length] ?? Math.max(a.length, b.length);
}

/** The known word closest to a typo, if it is close enough to be what was meant. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // A third of the word may be wrong (at least one letter): "fromat" finds format, "xyz" finds nothing.
  const prefix = known.find((k) => k.startsWith(word) && word.length >= 3);
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : prefix;
}

/** " (did you mean X?)" for a typo close to a known word, or nothing. */
export function suggestion(word: string, known: readonly string[], prefix = ''): string {
  const match = closest(word, known);
  return match === undefined ? '' : ` (did you mean ${prefix}${match}?)`;
}

/** The option names of a parseArgs configuration, as a user types them. */
function optionNames(options: NonNullable<ParseArgsConfig['options']>): string[] {
  return Object.keys(options);
}

/**
 * parseArgs with usage errors a person can act on: an unknown option names
 * the closest known one, a missing value says which option needs one.
 */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: readonly string[], options: O, allowPositionals: boolean) {
  const all = { ...COMMON_OPTIONS, ...options };
  try {
    return parseArgs({ args: [...argv], options: all, allowPositionals, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: string }).code;
    const unknown = /^Unknown option '(-{1,2})([^'=]+)'/.exec(message);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
      const [, dashes, name = ''] = unknown;
      throw new UsageError(`unknown option ${dashes}${name}${suggestion(name, optionNames(all), '--')}`);
    }
    const missing = /^Option '(?:-\w, )?--([^ ']+) <value>' argument missing/.exec(message);
    if (missing) throw new UsageError(`--${missing[1]} needs a value`);
    const positional = /^Unexpected argument '([^']*)'/.exec(message);
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && positional) {
      throw new UsageError(`unexpected argument "${positional[1]}": this command takes options only`);
    }
    throw new UsageError(message);
  }
}

/** A whole number from an option within [min, max], or a usage error naming it. */
export function intOption(name: string, value: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}, got "${value}"`);
  }
  return n;
}

/** A TCP port option: 0 (any free port) to 65535. */
export function portOption(value: string | undefined, fallback: number): number {
  return intOption('port', value, fallback, 0, 65_535);
}

/** One of a fixed set of values, or a usage error listing them (and the closest one). */
export function choiceOption<T extends string>(name: string, value: string | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got "${value}"${suggestion(value, choices)}`);
}
