/**
 * What the dashboard shows, kept small and current: per dataset and sensor
 * the latest reading and ten-minute averages of the last 24 hours, and per
 * dataset when the last reading came. Fed with summaries of the curated
 * files as the pipeline writes them (and once, at start, of the last day),
 * so a page view never scans the lake. Pure: no files, no engine.
 */
import { durationSeconds, headlineField, registry, type Dataset, type FieldSpec, type Governance, type Retention, type Thresholds } from '../datasets/index.ts';
import type { SensorPlace } from '../functions/core/places.ts';

/** Minutes per point of a chart. */
export const BUCKET_MINUTES = 10;
const BUCKET_MS = BUCKET_MINUTES * 60_000;
/** How far back the charts reach. */
export const WINDOW_HOURS = 24;
const WINDOW_MS = WINDOW_HOURS * 3_600_000;

/** Who looks: the city's staff see every dataset, the public only open ones. */
export type Audience = 'internal' | 'public';

/** The datasets an audience may see: the public only `open` ones, never shared or closed. */
export function visibleDatasets(audience: Audience, datasets: readonly Dataset[] = registry): readonly Dataset[] {
  return audience === 'public' ? datasets.filter((d) => d.governance.classification === 'open') : datasets;
}

/** One sensor's readings in one ten-minute bucket, as a query summarises a file. */
export interface BucketSummary {
  readonly sensorId: string;
  /** Start of the bucket, ms since the epoch. */
  readonly bucket: number;
  readonly readings: number;
  /** Sum of each numeric field over the bucket's readings that have it. */
  readonly sums: Readonly<Record<string, number>>;
  /** Readings that have each field. */
  readonly counts: Readonly<Record<string, number>>;
}

/** One sensor's latest reading in what a query summarised. */
export interface LatestSummary {
  readonly sensorId: string;
  /** Event time, ms since the epoch. */
  readonly ts: number;
  /** Arrival time, ms since the epoch. */
  readonly receivedAt: number;
  readonly values: Readonly<Record<string, number | null>>;
}

/** A summary of curated readings of one dataset: what the pipeline hands over per file. */
export interface ReadingsSummary {
  readonly datasetId: string;
  readonly buckets: readonly BucketSummary[];
  readonly latest: readonly LatestSummary[];
}

/** A field as the page shows it. */
export interface FieldView {
  readonly name: string;
  readonly unit?: string;
  readonly description?: string;
  readonly thresholds?: Thresholds;
}

/** A sensor as the page shows it. */
export interface SensorView {
  readonly id: string;
  readonly place?: { readonly latitude: number; readonly longitude: number; readonly name?: string; readonly address?: string };
  readonly latest?: { readonly ts: string; readonly values: Readonly<Record<string, number | null>> };
  /** Readings in the window. */
  readonly readings: number;
}

/** A dataset as the page shows it: the register's record, its sensors and its freshness. */
export interface DatasetView {
  readonly id: string;
  readonly title: { readonly en: string; readonly nl: string };
  readonly description: { readonly en: string; readonly nl: string };
  readonly keywords: readonly string[];
  /** The registry's governance record, with the dataset's retention. */
  readonly governance: Governance & { readonly retention: Retention };
  readonly fields: readonly FieldView[];
  /** The field the map colours and the chart draws. */
  readonly headline: string | null;
  readonly freshness: {
    readonly lastReading: string | null;
    readonly lastArrival: string | null;
    /** A dataset whose last reading is older than this is stale (its freshness alarm's window on AWS). */
    readonly staleAfterSeconds: number;
  };
  readonly sensors: readonly SensorView[];
}

/** Map tiles the page draws under the sensors; without them it draws the city's outline on a plain background. */
export interface TileConfig {
  /** URL template, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png */
  readonly url: string;
  readonly attribution: string;
}

/** Everything the page needs at first render. */
export interface DashboardSnapshot {
  readonly generatedAt: string;
  readonly audience: Audience;
  /** Whether updates follow on the event stream (a served dashboard), or this is all (a published copy). */
  readonly live: boolean;
  readonly city: { readonly name: string; readonly latitude: number; readonly longitude: number };
  readonly tiles: TileConfig | null;
  readonly bucketMinutes: number;
  readonly datasets: readonly DatasetView[];
}

/** The last 24 hours of one dataset's headline field, per sensor: [bucket start in ms, average] pairs. */
export interface SeriesView {
  readonly datasetId: string;
  readonly field: string | null;
  readonly bucketMinutes: number;
  readonly sensors: Readonly<Record<string, readonly (readonly [number, number])[]>>;
}

/** A change the event stream sends: one dataset's sensors whose latest reading moved, and its freshness. */
export interface DashboardUpdate {
  readonly datasetId: string;
  readonly freshness: DatasetView['freshness'];
  readonly sensors: readonly (SensorView & { readonly point?: readonly [number, number] })[];
}

interface Bucket {
  readings: number;
  sums: Record<string, number>;
  counts: Record<string, number>;
}

interface SensorState {
  readonly buckets: Map<number, Bucket>;
  latest?: LatestSummary;
}

interface DatasetState {
  readonly dataset: Dataset;
  readonly sensors: Map<string, SensorState>;
  readonly places: Map<string, SensorPlace>;
  lastReading?: number;
  lastArrival?: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const numeric = (f: FieldSpec) => f.kind === 'double' || f.kind === 'bigint';

/** Options of {@link DashboardAggregates}. */
export interface AggregatesOptions {
  readonly datasets?: readonly Dataset[];
  /** Update intervals without a reading after which a dataset is stale. @default 6 (as the freshness alarm on AWS) */
  readonly staleIntervals?: number;
  /** The clock. @default Date.now */
  readonly now?: () => number;
}

/**
 * The dashboard's aggregates. Memory is bounded by the window: per sensor at
 * most 145 buckets of a few sums each, old buckets dropped as new ones come.
 */
export class DashboardAggregates {
  private readonly states = new Map<string, DatasetState>();
  private readonly listeners = new Set<(update: DashboardUpdate) => void>();
  private readonly now: () => number;
  private readonly staleIntervals: number;
  /** Bumped on every change: a cached answer of an older version is stale. */
  version = 0;

  constructor(options: AggregatesOptions = {}) {
    for (const dataset of options.datasets ?? registry) this.states.set(dataset.id, { dataset, sensors: new Map(), places: new Map() });
    this.now = options.now ?? Date.now;
    this.staleIntervals = options.staleIntervals ?? 6;
  }

  /** Listens to every change; returns the function that stops listening. */
  onUpdate(listener: (update: DashboardUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records where sensors stand (a place of an unknown dataset is ignored). */
  setPlaces(places: readonly SensorPlace[]): void {
    for (const place of places) this.states.get(place.dataset)?.places.set(place.sensor_id, place);
    this.version += 1;
  }

  /** Adds what a query summarised of newly curated readings, and tells the listeners. */
  add(summary: ReadingsSummary): void {
    const state = this.states.get(summary.datasetId);
    if (!state) return;
    const cutoff = this.now() - WINDOW_MS;
    const touched = new Set<string>();
    for (const b of summary.buckets) {
      if (b.bucket < cutoff - BUCKET_MS) continue;
      const sensor = this.sensor(state, b.sensorId);
      const bucket = sensor.buckets.get(b.bucket) ?? { readings: 0, sums: {}, counts: {} };
      bucket.readings += b.readings;
      for (const [field, sum] of Object.entries(b.sums)) bucket.sums[field] = (bucket.sums[field] ?? 0) + sum;
      for (const [field, count] of Object.entries(b.counts)) bucket.counts[field] = (bucket.counts[field] ?? 0) + count;
      sensor.buckets.set(b.bucket, bucket);
      touched.add(b.sensorId);
    }
    for (const l of summary.latest) {
      const sensor = this.sensor(state, l.sensorId);
      if (!sensor.latest || l.ts > sensor.latest.ts) sensor.latest = l;
      if (state.lastReading === undefined || l.ts > state.lastReading) state.lastReading = l.ts;
      if (state.lastArrival === undefined || l.receivedAt > state.lastArrival) state.lastArrival = l.receivedAt;
      touched.add(l.sensorId);
    }
    this.prune(state, cutoff);
    if (touched.size === 0) return;
    this.version += 1;
    if (this.listeners.size === 0) return;
    const headline = headlineField(state.dataset)?.name;
    const update: DashboardUpdate = {
      datasetId: state.dataset.id,
      freshness: this.freshness(state),
      sensors: [...touched].sort().map((id) => {
        const view = this.sensorView(state, id);
        const sensor = state.sensors.get(id);
        const last = sensor ? Math.max(...sensor.buckets.keys()) : undefined;
        const bucket = last === undefined ? undefined : sensor?.buckets.get(last);
        const point = headline && bucket && last !== undefined ? average(bucket, headline) : undefined;
        return point === undefined || last === undefined ? view : { ...view, point: [last, point] as const };
      }),
    };
    for (const listener of this.listeners) listener(update);
  }

  private sensor(state: DatasetState, id: string): SensorState {
    let sensor = state.sensors.get(id);
    if (!sensor) {
      sensor = { buckets: new Map() };
      state.sensors.set(id, sensor);
    }
    return sensor;
  }

  private prune(state: DatasetState, cutoff: number): void {
    for (const sensor of state.sensors.values()) {
      for (const start of sensor.buckets.keys()) if (start < cutoff - BUCKET_MS) sensor.buckets.delete(start);
    }
  }

  private freshness(state: DatasetState): DatasetView['freshness'] {
    const interval = durationSeconds(state.dataset.governance.updateFrequency) ?? 60;
    return { lastReading: iso(state.lastReading), lastArrival: iso(state.lastArrival), staleAfterSeconds: interval * this.staleIntervals };
  }

  private sensorView(state: DatasetState, id: string): SensorView {
    const sensor = state.sensors.get(id);
    const place = state.places.get(id);
    let readings = 0;
    for (const b of sensor?.buckets.values() ?? []) readings += b.readings;
    return {
      id,
      ...(place
        ? { place: { latitude: place.latitude, longitude: place.longitude, ...(place.name ? { name: place.name } : {}), ...(place.address ? { address: place.address } : {}) } }
        : {}),
      ...(sensor?.latest ? { latest: { ts: new Date(sensor.latest.ts).toISOString(), values: sensor.latest.values } } : {}),
      readings,
    };
  }

  /** The page's data for an audience: only what it may see. */
  snapshot(audience: Audience, extra: { live: boolean; tiles: TileConfig | null; city: DashboardSnapshot['city'] }): DashboardSnapshot {
    this.prune0();
    const visible = new Set(visibleDatasets(audience, [...this.states.values()].map((s) => s.dataset)).map((d) => d.id));
    const datasets: DatasetView[] = [];
    for (const state of this.states.values()) {
      if (!visible.has(state.dataset.id)) continue;
      const d = state.dataset;
      const ids = new Set([...state.places.keys(), ...state.sensors.keys()]);
      datasets.push({
        id: d.id,
        title: { en: d.title, nl: d.nl.title },
        description: { en: d.description, nl: d.nl.description },
        keywords: d.keywords,
        governance: { ...d.governance, retention: d.retention },
        fields: d.fields.filter(numeric).map((f) => ({ name: f.name, unit: f.unit, description: f.description, ...(f.thresholds ? { thresholds: f.thresholds } : {}) })),
        headline: headlineField(d)?.name ?? null,
        freshness: this.freshness(state),
        sensors: [...ids].sort().map((id) => this.sensorView(state, id)),
      });
    }
    return { generatedAt: new Date(this.now()).toISOString(), audience, ...extra, bucketMinutes: BUCKET_MINUTES, datasets };
  }

  /** The last 24 hours of a dataset's headline field per sensor, or undefined for a dataset the audience may not see. */
  series(audience: Audience, datasetId: string): SeriesView | undefined {
    const state = this.states.get(datasetId);
    if (!state || !visibleDatasets(audience, [state.dataset]).length) return undefined;
    this.prune0();
    const field = headlineField(state.dataset)?.name ?? null;
    const sensors: Record<string, (readonly [number, number])[]> = {};
    if (field) {
      for (const [id, sensor] of [...state.sensors].sort(([a], [b]) => a.localeCompare(b))) {
        const points = [...sensor.buckets]
          .sort(([a], [b]) => a - b)
          .flatMap(([start, bucket]) => {
            const avg = average(bucket, field);
            return avg === undefined ? [] : [[start, avg] as const];
          });
        if (points.length > 0) sensors[id] = points;
      }
    }
    return { datasetId, field, bucketMinutes: BUCKET_MINUTES, sensors };
  }

  private prune0(): void {
    const cutoff = this.now() - WINDOW_MS;
    for (const state of this.states.values()) this.prune(state, cutoff);
  }
}

function average(bucket: Bucket, field: string): number | undefined {
  const count = bucket.counts[field] ?? 0;
  const sum = bucket.sums[field];
  if (count === 0 || sum === undefined) return undefined;
  return Math.round((sum / count) * 1000) / 1000;
}

/** Start of the ten-minute bucket of an instant. */
export function bucketOf(ms: number): number {
  return Math.floor(ms / BUCKET_MS) * BUCKET_MS;
}
