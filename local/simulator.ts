import mqtt, { type MqttClient } from 'mqtt';
import { registry, type Dataset } from '../datasets/index.ts';
import { topicFor } from '../functions/core/envelope.ts';
import type { SensorPlace } from '../functions/core/places.ts';
import { demoPlace } from './city.ts';
import { MALFORMATIONS, malformedPayload, plausibleReading, seededRandom, type SensorState } from './readings.ts';

/** How the demo fleet behaves. */
export interface SimulatorOptions {
  /** e.g. mqtt://127.0.0.1:1883 */
  readonly brokerUrl: string;
  /** Sensors in the fleet, spread over every dataset. @default 21 */
  readonly sensors?: number;
  /** Milliseconds between two readings of one sensor. @default 1000 */
  readonly intervalMs?: number;
  /** Share of messages that are malformed in some way. @default 0.03 */
  readonly malformedShare?: number;
  /** Share of messages sent twice, as a QoS 1 redelivery would. @default 0.01 */
  readonly duplicateShare?: number;
  /** Share of messages that carry several readings as a JSON array. @default 0.05 */
  readonly arrayShare?: number;
  /** Share of readings that arrive a day late. @default 0.01 */
  readonly lateShare?: number;
  /** Seed of the fleet's random source. @default - a new fleet each run */
  readonly seed?: number;
  /** Datasets to simulate. @default - the whole registry */
  readonly datasets?: readonly Dataset[];
  /**
   * Credentials for each sensor (username = client id = sensor id): returns its password.
   * The local platform always gives the fleet this run's, so authentication switched on
   * while it runs never locks it out.
   * @default - sensors connect without credentials
   */
  readonly credentials?: (datasetId: string, sensorId: string) => string;
}

export const SIMULATOR_DEFAULTS = Object.freeze({
  sensors: 21,
  intervalMs: 1000,
  malformedShare: 0.03,
  duplicateShare: 0.01,
  arrayShare: 0.05,
  lateShare: 0.01,
});

interface Sensor {
  readonly id: string;
  readonly dataset: Dataset;
  /** Its number within its dataset, from 1. */
  readonly n: number;
  readonly client: MqttClient;
  readonly state: SensorState;
  timer?: NodeJS.Timeout;
}

/** Readings published and acknowledged by the broker, per dataset. */
export type PublishedCounts = Map<string, number>;

/** Sensor id of the n-th simulated sensor of a dataset: a valid thing name. */
export function simulatedSensorId(dataset: Dataset, n: number): string {
  return `${dataset.id.replace(/_/g, '-')}-${String(n).padStart(3, '0')}`;
}

/**
 * A fleet of simulated sensors, each its own MQTT client (client id = sensor
 * id), publishing plausible readings with QoS 1 and now and then garbage,
 * arrays, late readings and redeliveries.
 */
export class Simulator {
  readonly published: PublishedCounts = new Map();
  private readonly sensors: Sensor[] = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly random: () => number;
  private readonly options: Required<Omit<SimulatorOptions, 'seed' | 'datasets' | 'credentials'>> & {
    datasets: readonly Dataset[];
    credentials?: SimulatorOptions['credentials'];
  };
  private stopped = false;
  /** Publishes the broker refused or never acknowledged (never counted as published). */
  failures = 0;

  constructor(options: SimulatorOptions) {
    this.options = { ...SIMULATOR_DEFAULTS, datasets: registry, ...stripUndefined(options), brokerUrl: options.brokerUrl };
    this.random = seededRandom(options.seed ?? Date.now());
  }

  /** Connects the fleet and starts publishing. */
  async start(): Promise<void> {
    const { sensors, datasets, brokerUrl, intervalMs } = this.options;
    const perDataset = new Map<string, number>();
    const count = Math.max(sensors, 0);
    for (let i = 0; i < count; i++) {
      const dataset = datasets[i % datasets.length] as Dataset;
      const n = (perDataset.get(dataset.id) ?? 0) + 1;
      perDataset.set(dataset.id, n);
      const id = simulatedSensorId(dataset, n);
      const password = this.options.credentials?.(dataset.id, id);
      const client = await mqtt.connectAsync(brokerUrl, {
        clientId: id,
        reconnectPeriod: 1000,
        connectTimeout: 5000,
        ...(password === undefined ? {} : { username: id, password }),
      });
      this.sensors.push({ id, dataset, n, client, state: new Map() });
    }
    for (const sensor of this.sensors) {
      // Spread first readings over one interval so the fleet does not publish in lockstep.
      sensor.timer = setTimeout(() => this.tick(sensor), Math.floor(this.random() * intervalMs));
    }
  }

  private tick(sensor: Sensor): void {
    if (this.stopped) return;
    this.publishOnce(sensor);
    const jitter = 0.8 + this.random() * 0.4;
    sensor.timer = setTimeout(() => this.tick(sensor), Math.round(this.options.intervalMs * jitter));
  }

  private publishOnce(sensor: Sensor): void {
    const { dataset } = sensor;
    const topic = topicFor(dataset.id, sensor.id);
    const roll = this.random();
    const { malformedShare, arrayShare, duplicateShare, lateShare } = this.options;
    const now = new Date();
    const at = () => (this.random() < lateShare ? new Date(now.getTime() - 86_400_000) : now);
    let payload: string;
    let readings = 1;
    if (roll < malformedShare) {
      const kind = MALFORMATIONS[Math.floor(this.random() * MALFORMATIONS.length)] ?? 'not-json';
      payload = malformedPayload(dataset, plausibleReading(dataset, now, this.random, sensor.state), kind);
    } else if (roll < malformedShare + arrayShare) {
      readings = 2 + Math.floor(this.random() * 2);
      const batch = Array.from({ length: readings }, (_, i) =>
        plausibleReading(dataset, new Date(now.getTime() - (readings - 1 - i) * this.options.intervalMs), this.random, sensor.state),
      );
      payload = JSON.stringify(batch);
    } else {
      payload = JSON.stringify(plausibleReading(dataset, at(), this.random, sensor.state));
    }
    this.send(sensor, topic, payload, readings);
    if (this.random() < duplicateShare) this.send(sensor, topic, payload, readings);
  }

  private send(sensor: Sensor, topic: string, payload: string, readings: number): void {
    const done = sensor.client.publishAsync(topic, payload, { qos: 1 }).then(
      () => this.published.set(sensor.dataset.id, (this.published.get(sensor.dataset.id) ?? 0) + readings),
      () => {
        this.failures += 1;
      },
    );
    this.inflight.add(done);
    void done.finally(() => this.inflight.delete(done));
  }

  /** Where each sensor of the fleet stands, in the demo city. */
  places(now: Date = new Date()): SensorPlace[] {
    return this.sensors.map((s) => demoPlace(s.dataset, s.id, s.n, now));
  }

  /** Readings acknowledged so far, over all datasets. */
  get total(): number {
    let sum = 0;
    for (const n of this.published.values()) sum += n;
    return sum;
  }

  /** Stops publishing, waits for every acknowledgement, disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const sensor of this.sensors) clearTimeout(sensor.timer);
    await Promise.allSettled([...this.inflight]);
    await Promise.allSettled(this.sensors.map((s) => s.client.endAsync()));
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
