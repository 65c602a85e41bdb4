import { registry } from '../datasets/index.ts';
import { UNROUTED } from '../functions/core/keys.ts';
import type { TransformCounts } from '../functions/core/transform.ts';
import type { PipelineEvent } from './pipeline.ts';

type Counts = { -readonly [K in keyof TransformCounts]: number };

const zero = (): Counts => ({ received: 0, duplicates: 0, curated: 0, quarantined: 0 });

/** What `datastroom dev --summary-json` prints as its last line. */
export interface RunSummary extends TransformCounts {
  /** Readings the simulator published and the broker acknowledged. */
  readonly published: number;
  /** Messages on a Datastroom topic naming no dataset (counted in received and quarantined). */
  readonly unrouted: number;
  /** Raw objects whose transform failed; they are retried at the next start. */
  readonly failedObjects: number;
  readonly datasets: Readonly<Record<string, TransformCounts>>;
}

/** Totals of one run of the local platform, fed by the pipeline's events. */
export class RunStats {
  private readonly perDataset = new Map<string, Counts>(registry.map((d) => [d.id, zero()]));
  private unrouted = 0;
  failedObjects = 0;

  record(event: PipelineEvent): void {
    if (event.datasetId === UNROUTED) {
      this.unrouted += event.received;
      return;
    }
    const counts = this.perDataset.get(event.datasetId) ?? zero();
    counts.received += event.received;
    counts.duplicates += event.duplicates;
    counts.curated += event.curated;
    counts.quarantined += event.quarantined;
    this.perDataset.set(event.datasetId, counts);
  }

  /** Per-dataset counts so far. */
  get datasets(): ReadonlyMap<string, TransformCounts> {
    return this.perDataset;
  }

  summary(published: number): RunSummary {
    const total = zero();
    for (const counts of this.perDataset.values()) {
      for (const key of Object.keys(total) as (keyof Counts)[]) total[key] += counts[key];
    }
    return {
      published,
      received: total.received + this.unrouted,
      duplicates: total.duplicates,
      curated: total.curated,
      quarantined: total.quarantined + this.unrouted,
      unrouted: this.unrouted,
      failedObjects: this.failedObjects,
      datasets: Object.fromEntries([...this.perDataset].map(([id, c]) => [id, { ...c }])),
    };
  }
}
