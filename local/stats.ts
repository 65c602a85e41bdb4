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
  /** Raw objects left untransformed at stop because their transform failed (in the data dir's ledger). */
  readonly failedObjects: number;
  /** Of those, the ones parked after the retry policy's attempts: they wait for `datastroom failed --retry`. */
  readonly parkedObjects: number;
  readonly datasets: Readonly<Record<string, TransformCounts>>;
}

/** Totals of one run of the local platform, fed by the pipeline's events. */
export class RunStats {
  private readonly perDataset = new Map<string, Counts>(registry.map((d) => [d.id, zero()]));
  private unrouted = 0;

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

  /** The run's summary; `failures` counts the data dir's failed and parked raw objects at stop. */
  summary(published: number, failures: { readonly failed: number; readonly parked: number } = { failed: 0, parked: 0 }): RunSummary {
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
      failedObjects: failures.failed,
      parkedObjects: failures.parked,
      datasets: Object.fromEntries([...this.perDataset].map(([id, c]) => [id, { ...c }])),
    };
  }
}
