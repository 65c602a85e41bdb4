/** Paths into payloads (see {@link Path}): parsed once, then followed. */
import type { Path } from './define.ts';

/**
 * One step of a path: a key (`kind` 0), an array index (1), or the first
 * array element whose `key` equals `equals` (2). One shape for all three
 * keeps following a path fast: it runs for every field of every reading.
 */
export interface Step {
  readonly kind: 0 | 1 | 2;
  readonly key: string;
  readonly index: number;
  readonly equals: string;
}

const keyStep = (key: string): Step => ({ kind: 0, key, index: -1, equals: '' });

/** A path that does not parse; the message shows it. */
export class PathSyntaxError extends Error {
  constructor(readonly path: string, problem: string) {
    super(`path "${path}": ${problem}`);
    this.name = 'PathSyntaxError';
  }
}

const parsed = new Map<string, readonly Step[]>();

/** The steps of a path; throws {@link PathSyntaxError}. */
export function parsePath(path: Path): readonly Step[] {
  const known = parsed.get(path);
  if (known) return known;
  const steps: Step[] = [];
  let i = 0;
  const fail = (problem: string): never => {
    throw new PathSyntaxError(path, problem);
  };
  while (i < path.length) {
    if (path[i] === '[') {
      const end = path.indexOf(']', i);
      if (end < 0) fail(`"[" at ${i} is not closed`);
      const inner = path.slice(i + 1, end);
      if (/^\d+$/.test(inner)) steps.push({ kind: 1, key: '', index: Number(inner), equals: '' });
      else if (/^"[^"]*"$/.test(inner)) steps.push(keyStep(inner.slice(1, -1)));
      else if (/^[^=\]]+=[^\]]*$/.test(inner)) {
        const eq = inner.indexOf('=');
        steps.push({ kind: 2, key: inner.slice(0, eq), index: -1, equals: inner.slice(eq + 1) });
      } else fail(`"[${inner}]" is not an index, a quoted key or key=value`);
      i = end + 1;
      if (i < path.length && path[i] === '.') i++;
      continue;
    }
    let end = i;
    while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
    if (end === i) fail(`an empty key at ${i}`);
    steps.push(keyStep(path.slice(i, end)));
    i = end < path.length && path[end] === '.' ? end + 1 : end;
    if (path[end] === '.' && i === path.length) fail('it ends with a dot');
  }
  if (steps.length === 0) fail('it is empty');
  parsed.set(path, steps);
  return steps;
}

/** A compiled path: the value it leads to in a JSON value, or undefined where any step is missing. */
export type Accessor = (value: unknown) => unknown;

const compiled = new Map<string, Accessor>();

/**
 * A path compiled once to a function that follows it (see {@link follow}):
 * no parsing and no loop over steps for each value it reads. Throws
 * {@link PathSyntaxError}.
 */
export function compilePath(path: Path): Accessor {
  const known = compiled.get(path);
  if (known) return known;
  const accessor = compileSteps(parsePath(path));
  compiled.set(path, accessor);
  return accessor;
}

/**
 * Steps compiled to the function that follows them (see {@link compilePath}).
 * It is generated code, each key a literal: every read of a key is its own
 * site in the code, which the engine then makes as fast as a written one.
 */
export function compileSteps(steps: readonly Step[]): Accessor {
  const code = steps.map((step) => {
    if (step.kind === 0) {
      const key = JSON.stringify(step.key);
      // Only own keys: "constructor" of a plain object is no field of a payload.
      return `if (typeof at !== 'object' || at === null || Array.isArray(at)) return undefined;
        next = at[${key}];
        if (next === undefined || !hasOwn(at, ${key})) return undefined;
        at = next;`;
    }
    if (step.kind === 1) return `if (!Array.isArray(at)) return undefined; at = at[${step.index}]; if (at === undefined) return undefined;`;
    return `if (!Array.isArray(at)) return undefined;
      next = undefined;
      for (let i = 0; i < at.length; i++) {
        const e = at[i];
        if (typeof e === 'object' && e !== null && String(e[${JSON.stringify(step.key)}]) === ${JSON.stringify(step.equals)}) { next = e; break; }
      }
      if (next === undefined) return undefined;
      at = next;`;
  });
  return generated<Accessor>(['hasOwn'], `return function follow(at) { let next; ${code.join('\n')} return at; };`, [Object.hasOwn]);
}

/** A function from generated code, given what it refers to. */
export function generated<F>(names: readonly string[], code: string, values: readonly unknown[]): F {
  return new Function(...names, code)(...values) as F;
}

/** The value a path leads to in a JSON value, or undefined where any step is missing. */
export function follow(value: unknown, path: Path): unknown {
  return compilePath(path)(value);
}

/** A path or several, as a list. */
export function pathList(paths: Path | readonly Path[]): readonly Path[] {
  return typeof paths === 'string' ? [paths] : paths;
}
