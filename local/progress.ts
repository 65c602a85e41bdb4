import type { RunStats } from './stats.ts';

/** What the progress display reads each second. */
export interface ProgressSource {
  readonly stats: RunStats;
  /** Messages taken in per dataset since start. */
  readonly arrivals: ReadonlyMap<string, number>;
  /** Raw objects waiting for the transform. */
  readonly backlog: number;
  readonly published: number;
}

const pad = (text: string | number, width: number) => String(text).padStart(width);

/** The progress table: messages/s overall, then one line per dataset. */
export function progressLines(source: ProgressSource, messagesPerSecond: number, elapsedS: number): string[] {
  const lines = [
    `datastroom dev  ${elapsedS.toFixed(0)}s  ${messagesPerSecond.toFixed(0)} msg/s  published ${source.published}  transform backlog ${source.backlog}`,
    `${'dataset'.padEnd(20)}${pad('messages', 10)}${pad('readings', 10)}${pad('curated', 10)}${pad('quarantined', 13)}${pad('duplicates', 12)}`,
  ];
  for (const [id, counts] of source.stats.datasets) {
    lines.push(
      `${id.padEnd(20)}${pad(source.arrivals.get(id) ?? 0, 10)}${pad(counts.received, 10)}${pad(counts.curated, 10)}${pad(counts.quarantined, 13)}${pad(counts.duplicates, 12)}`,
    );
  }
  return lines;
}

/**
 * Redraws the table in place on a terminal; elsewhere (a pipe, CI) prints
 * one summary line every few seconds instead.
 */
export class ProgressDisplay {
  private timer: NodeJS.Timeout | undefined;
  private drawn = 0;
  private lastCount = 0;
  private lastAt = Date.now();
  private readonly startedAt = Date.now();
  private ticks = 0;

  constructor(
    private readonly source: ProgressSource,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.render(), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.render();
  }

  private render(): void {
    const now = Date.now();
    let total = 0;
    for (const n of this.source.arrivals.values()) total += n;
    const rate = ((total - this.lastCount) * 1000) / Math.max(1, now - this.lastAt);
    this.lastCount = total;
    this.lastAt = now;
    const lines = progressLines(this.source, rate, (now - this.startedAt) / 1000);
    if (this.out.isTTY) {
      const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
      this.out.write(up + lines.map((l) => `\x1b[2K${l}`).join('\n') + '\n');
      this.drawn = lines.length;
    } else if (this.ticks++ % 5 === 0) {
      this.out.write(`${lines[0]}\n`);
    }
  }
}
