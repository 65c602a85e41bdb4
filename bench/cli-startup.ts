/**
 * The CLI's start-up against bare node, in the same run: the median wall
 * time of `datastroom --help`, `--version` and `query "select 1"` (which
 * loads DuckDB), each as a ratio of `node -e 0`. DESIGN.md's target: a
 * small multiple of bare node, at most 3x for --help.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../bin/datastroom.mjs');

/** Median wall time, in ms, of a command run `runs` times. */
async function median(args: readonly string[], runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await exec(process.execPath, [...args], { maxBuffer: 1 << 20 });
    times.push(performance.now() - started);
  }
  return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? Number.NaN;
}

/** One measured start-up: the command, its median ms and its ratio to bare node. */
export interface StartupResult {
  readonly command: string;
  readonly ms: number;
  readonly ratio: number;
}

/** Measures the start-ups; the build is made (or checked) by a first, unmeasured run. */
export async function measureCliStartup(runs = Number(process.env.BENCH_STARTUP_RUNS ?? 7)): Promise<{ nodeMs: number; results: StartupResult[] }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'datastroom-startup-'));
  try {
    await exec(process.execPath, [BIN, '--version']);
    const nodeMs = await median(['-e', '0'], runs);
    const commands: [string, string[]][] = [
      ['datastroom --help', [BIN, '--help']],
      ['datastroom --version', [BIN, '--version']],
      ['datastroom query "select 1"', [BIN, 'query', 'select 1', '--data-dir', dataDir]],
    ];
    const results: StartupResult[] = [];
    for (const [command, args] of commands) {
      const ms = await median(args, runs);
      results.push({ command, ms, ratio: Math.round((ms / nodeMs) * 100) / 100 });
    }
    return { nodeMs, results };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The start-up table as lines. */
export function startupLines(measured: { nodeMs: number; results: readonly StartupResult[] }): string[] {
  return [
    `CLI start-up (median of runs) against bare node (node -e 0: ${measured.nodeMs.toFixed(0)} ms)`,
    ...measured.results.map((r) => `  ${r.command.padEnd(30)} ${r.ms.toFixed(0).padStart(6)} ms  ${r.ratio.toFixed(2)}x${r.command.endsWith('--help') ? ' (target <= 3x)' : ''}`),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const measured = await measureCliStartup();
  process.stdout.write(`${startupLines(measured).join('\n')}\n${JSON.stringify({ cliStartup: measured })}\n`);
}
