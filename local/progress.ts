import type { TopicCounts } from './ingest.ts';
import type { RunStats } from './stats.ts';

/** What the progress display reads each second. */
export interface ProgressSource {
  readonly stats: RunStats;
  /** Messages taken in per dataset since start. */
  readonly arrivals: ReadonlyMap<string, number>;
  /** Raw objects waiting for the transform. */
  readonly backlog: number;
  readonly published: number;
  /** Messages on topics that name no dataset, by topic. @default - none shown */
  readonly unrouted?: TopicCounts;
  /** Messages on topics outside datastroom/, by topic. @default - none shown */
  readonly outside?: TopicCounts;
}

/** The narrowest terminal the display lays out for; narrower ones get lines cut at their width. */
export const MIN_WIDTH = 38;

const pad = (text: string | number, width: number) => String(text).padStart(width);

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** Where messages that did not reach a dataset went, in one line per kind (none when there are none). */
function strayLines(source: ProgressSource): string[] {
  const lines: string[] = [];
  const describe = (what: string, counts: TopicCounts | undefined) => {
    if (!counts || counts.total === 0) return;
    const { topics, others } = counts.top(3);
    const list = topics.map(([topic, n]) => `${topic} ${n}`).join(', ');
    lines.push(`${what} ${counts.total}: ${list}${others > 0 ? `, other topics ${others}` : ''}`);
  };
  describe('unrouted (no such dataset)', source.unrouted);
  describe('ignored (not datastroom/)', source.outside);
  return lines;
}

/**
 * The progress table: messages/s overall, one line per dataset, then the
 * messages that reached no dataset. It fits `width` columns: below 80 the
 * headings shorten and the dataset column narrows; no line is longer than
 * the width, so a redraw never wraps.
 */
export function progressLines(source: ProgressSource, messagesPerSecond: number, elapsedS: number, width = 80): string[] {
  const w = Math.max(MIN_WIDTH, width);
  const wide = w >= 80;
  const headings = wide ? ['messages', 'readings', 'curated', 'quarantined', 'duplicates'] : ['msgs', 'read', 'cur', 'quar', 'dup'];
  const numberWidths = wide ? [10, 10, 10, 13, 12] : [7, 7, 7, 6, 5];
  const nameWidth = wide ? 20 : Math.max(6, w - numberWidths.reduce((a, b) => a + b, 0));
  const row = (name: string, numbers: readonly (string | number)[]) =>
    cut(`${cut(name, nameWidth - 1).padEnd(nameWidth)}${numbers.map((n, i) => pad(n, numberWidths[i] ?? 8)).join('')}`, w);
  const title = wide
    ? `datastroom dev  ${elapsedS.toFixed(0)}s  ${messagesPerSecond.toFixed(0)} msg/s  published ${source.published}  transform backlog ${source.backlog}`
    : `dev ${elapsedS.toFixed(0)}s ${messagesPerSecond.toFixed(0)} msg/s pub ${source.published} backlog ${source.backlog}`;
  const lines = [cut(title, w), row('dataset', headings)];
  for (const [id, counts] of source.stats.datasets) {
    lines.push(row(id, [source.arrivals.get(id) ?? 0, counts.received, counts.curated, counts.quarantined, counts.duplicates]));
  }
  for (const line of strayLines(source)) lines.push(cut(line, w));
  return lines;
}

/** A terminal (or a stand-in for one in tests): where the display draws. */
export interface DisplayOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  /** Width in columns. @default 80 */
  readonly columns?: number;
}

/**
 * Shows the progress table below the log. On a terminal the table is
 * redrawn in place each second and every log line is printed above it (the
 * table is wiped, the line written, the table drawn again), so no message is
 * ever overwritten; elsewhere (a pipe, CI) log lines pass through as they
 * are and the table's first line is printed every few seconds.
 */
export class ProgressDisplay {
  private timer: NodeJS.Timeout | undefined;
  private source: ProgressSource | undefined;
  private drawn = 0;
  private lastCount = 0;
  private lastAt = Date.now();
  private rate = 0;
  private readonly startedAt = Date.now();
  private ticks = 0;

  constructor(private readonly out: DisplayOutput = process.stderr) {}

  /** Starts showing the table of a source. */
  start(source: ProgressSource): void {
    this.source = source;
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  /** Prints a log line above the table (or, before the table shows, just prints it). */
  log(line: string): void {
    if (!this.out.isTTY) {
      this.out.write(`${line}\n`);
      return;
    }
    this.out.write(`${this.wipe()}${line}\n${this.draw()}`);
  }

  /** Stops redrawing and leaves the last table on screen; later log lines print below it. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.tick();
    this.drawn = 0;
    this.source = undefined;
  }

  private tick(): void {
    if (!this.source) return;
    const now = Date.now();
    let total = 0;
    for (const n of this.source.arrivals.values()) total += n;
    this.rate = ((total - this.lastCount) * 1000) / Math.max(1, now - this.lastAt);
    this.lastCount = total;
    this.lastAt = now;
    if (this.out.isTTY) {
      this.out.write(`${this.wipe()}${this.draw()}`);
    } else if (this.ticks++ % 5 === 0) {
      this.out.write(`${this.lines()[0]}\n`);
    }
  }

  private lines(): string[] {
    if (!this.source) return [];
    // One column less than the width: a line that fills the last column wraps on some terminals.
    return progressLines(this.source, this.rate, (Date.now() - this.startedAt) / 1000, (this.out.columns ?? 80) - 1);
  }

  /** Moves to the table's first line and clears to the end of the screen. */
  private wipe(): string {
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    this.drawn = 0;
    return `${up}\r\x1b[J`;
  }

  private draw(): string {
    const lines = this.lines();
    this.drawn = lines.length;
    return lines.length > 0 ? `${lines.join('\n')}\n` : '';
  }
}
