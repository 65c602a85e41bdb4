import { basename, join } from 'node:path';
import { findDataset, registry } from '../datasets/index.ts';
import { isDatasetRuleName, messageIdFor, parseTopic, rawLine, splitBasicIngestTopic, TOPIC_ROOT, unroutedLine } from '../functions/core/envelope.ts';
import { deliveryMessageId, isIntegrationRuleName, mqttVia, parseIntegrationTopic } from '../functions/core/integrations.ts';
import { UNROUTED } from '../functions/core/keys.ts';
import {
  BufferHealthLog,
  leftoverBuffers,
  RawBuffer,
  sealBufferFile,
  sealedKeyOf,
  type BufferingHints,
  type OpenBufferFile,
  type SealedListener,
} from './raw-buffer.ts';

/** Messages written to the raw buffers, so acknowledged, per dataset (UNROUTED for unknown datasets). */
export type ArrivalCounts = Map<string, number>;

/** Distinct topics counted one by one before the rest are counted together, so a flood of new topics takes no memory. */
export const COUNTED_TOPICS = 100;

/** Messages counted per topic, the topics beyond {@link COUNTED_TOPICS} together. */
export class TopicCounts {
  private readonly counts = new Map<string, number>();
  private others = 0;
  private all = 0;

  /** Counts one message; returns true the first time its topic is seen (to report it once). */
  add(topic: string): boolean {
    this.all += 1;
    const known = this.counts.get(topic);
    if (known !== undefined) {
      this.counts.set(topic, known + 1);
      return false;
    }
    if (this.counts.size >= COUNTED_TOPICS) {
      this.others += 1;
      return false;
    }
    this.counts.set(topic, 1);
    return true;
  }

  /** Messages counted. */
  get total(): number {
    return this.all;
  }

  /** The topics with the most messages first, and how many messages went to topics not listed. */
  top(limit: number): { readonly topics: readonly (readonly [string, number])[]; readonly others: number } {
    const sorted = [...this.counts].sort((a, b) => b[1] - a[1]);
    const shown = sorted.slice(0, limit);
    return { topics: shown, others: this.others + sorted.slice(limit).reduce((n, [, c]) => n + c, 0) };
  }
}

/** Who delivered a payload on behalf of sensors, and in which format. */
export interface Delivery {
  /** The integration's or source's name: the envelope's sensor id. */
  readonly name: string;
  /** `http:<name>` or `pull:<source>`. */
  readonly via: string;
  /** @default - recognised from the payload */
  readonly format?: string;
}

/** How the ingest reports trouble and opens its buffer files. */
export interface IngestOptions {
  /** Where write and seal failures are reported, once per episode. @default - standard error */
  readonly log?: (line: string) => void;
  /** @default openBufferFile, owner-only files */
  readonly openBufferFile?: OpenBufferFile;
}

/** ", did you mean air_quality?" for a dataset id one or two letters off a known one. */
function suggestDataset(id: string): string {
  const distance = (a: string, b: string) => {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const current = [i];
      for (let j = 1; j <= b.length; j++) current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
    return previous[b.length] ?? Infinity;
  };
  const best = registry.map((d) => [d.id, distance(id, d.id)] as const).sort((a, b) => a[1] - b[1])[0];
  return best && best[1] <= 2 ? `, did you mean ${best[0]}?` : '; known datasets: ' + registry.map((d) => d.id).join(', ');
}

/**
 * The local topic rule: what IoT Core's rule and Firehose do in the cloud.
 * It stamps each message on a Datastroom topic with its envelope and appends
 * it to its dataset's durable buffer; the returned promise settles once the
 * line is on disk, and only then may the broker acknowledge the message. It
 * rejects when the line cannot be written (a full disk): the broker then
 * sends no acknowledgement and the sender resends.
 */
export class Ingest {
  private readonly buffers = new Map<string, RawBuffer>();
  private readonly health: BufferHealthLog;
  readonly arrivals: ArrivalCounts = new Map();
  /** Messages on a topic outside `datastroom/`: acknowledged (MQTT has no refusal for them) but not the platform's, so not kept. */
  readonly outside = new TopicCounts();
  /** Messages on a `datastroom/` topic that names no dataset (or has the wrong number of levels): kept under raw/_unrouted/. */
  readonly unrouted = new TopicCounts();
  private readonly log: (line: string) => void;

  constructor(
    private readonly bufferRoot: string,
    private readonly dataRoot: string,
    private readonly hints: BufferingHints,
    private readonly onSealed: SealedListener,
    private readonly options: IngestOptions = {},
  ) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.health = new BufferHealthLog(this.log);
  }

  /**
   * Takes one message in. Returns undefined for topics outside `datastroom/`,
   * which are not the platform's: they are counted, and the first on each
   * topic is reported, never dropped unseen. A topic that names no dataset is
   * reported the same way, and its messages kept under raw/_unrouted/.
   * A Basic Ingest topic (`$aws/rules/<rule>/datastroom/...`, as a device set
   * up for AWS publishes) counts as the topic after its prefix, as the rule
   * sees it on AWS; one naming a rule not of its dataset is unrouted.
   */
  accept(published: string, payload: Buffer, receivedAt: Date = new Date()): Promise<void> | undefined {
    const basic = splitBasicIngestTopic(published);
    const topic = basic?.topic ?? published;
    if (topic !== TOPIC_ROOT && !topic.startsWith(`${TOPIC_ROOT}/`)) {
      if (this.outside.add(published)) {
        this.log(`message on topic "${published}" ignored: not a Datastroom topic (publish to ${TOPIC_ROOT}/<dataset>/<sensorId>); further ones on it are counted`);
      }
      return undefined;
    }
    const integration = parseIntegrationTopic(topic);
    const integrationDataset = integration ? findDataset(integration.datasetId) : undefined;
    if (integration && integrationDataset && (!basic || isIntegrationRuleName(basic.ruleName, integrationDataset.id))) {
      // A gateway publishing for the sensors behind it: the format names each reading's sensor.
      const route = { via: mqttVia(integration.integration) };
      return this.bufferOf(integrationDataset.id).append(rawLine(integration.integration, messageIdFor(topic, payload), receivedAt, payload, route));
    }
    const parsed = parseTopic(topic);
    const dataset = parsed ? findDataset(parsed.datasetId) : undefined;
    if (!parsed || !dataset || (basic && !isDatasetRuleName(basic.ruleName, dataset.id))) {
      if (this.unrouted.add(published)) {
        const why =
          !parsed ? `is not ${TOPIC_ROOT}/<dataset>/<sensorId>`
          : !dataset ? `names no dataset ("${parsed.datasetId}"${suggestDataset(parsed.datasetId)})`
          : `names the rule "${basic?.ruleName ?? ''}", which is not ${dataset.id}'s`;
        this.log(`message on topic "${published}" unrouted: it ${why}; kept under raw/${UNROUTED}/ and counted as quarantined`);
      }
      return this.bufferOf(UNROUTED).append(unroutedLine(published, messageIdFor(published, payload), receivedAt, payload));
    }
    return this.bufferOf(dataset.id).append(rawLine(parsed.sensorId, messageIdFor(topic, payload), receivedAt, payload));
  }

  /**
   * Takes in one payload an integration delivered (HTTP push) or a pull
   * source fetched, for a dataset the caller has checked: stamped with its
   * `via` and declared format, appended to the dataset's durable buffer.
   * As for {@link accept}, the promise settles once the line is on disk, and
   * only then may the sender hear it arrived.
   */
  deliver(datasetId: string, delivery: Delivery, payload: Buffer, receivedAt: Date = new Date()): Promise<void> {
    const messageId = deliveryMessageId(delivery.via, datasetId, delivery.format, payload);
    const route = delivery.format === undefined ? { via: delivery.via } : { via: delivery.via, format: delivery.format };
    return this.bufferOf(datasetId).append(rawLine(delivery.name, messageId, receivedAt, payload, route));
  }

  /**
   * Seals the buffer files an earlier run left behind (it stopped without
   * sealing them) and returns their raw keys. One that cannot be sealed now is
   * reported and retried with its dataset's seals.
   */
  async recoverLeftovers(): Promise<string[]> {
    const keys: string[] = [];
    for (const path of await leftoverBuffers(this.bufferRoot)) {
      try {
        const key = await sealBufferFile(path, this.dataRoot);
        this.health.sealSucceeded();
        if (key) keys.push(key);
      } catch (error) {
        this.health.sealFailed(path, error);
        this.bufferOf(sealedKeyOf(basename(path)).datasetId).adopt(path);
      }
    }
    return keys;
  }

  /** Seals every open buffer into the raw zone; returns the buffer files that could not be sealed (see {@link unsealed}). */
  async sealAll(): Promise<string[]> {
    // Failures are reported by the health log; what they leave behind is listed below.
    await Promise.all([...this.buffers.values()].map((b) => b.seal().catch(() => undefined)));
    this.health.settle();
    return this.unsealed;
  }

  /** Buffer files that could not be sealed into the raw zone so far; they stay under the buffer root and the next start recovers them. */
  get unsealed(): string[] {
    return [...this.buffers.values()].flatMap((b) => b.unsealed);
  }

  private bufferOf(datasetId: string): RawBuffer {
    let buffer = this.buffers.get(datasetId);
    if (!buffer) {
      buffer = new RawBuffer(datasetId, join(this.bufferRoot, datasetId), this.dataRoot, this.hints, this.onSealed, {
        reporter: this.health,
        open: this.options.openBufferFile,
        onWritten: (lines) => this.arrivals.set(datasetId, (this.arrivals.get(datasetId) ?? 0) + lines),
      });
      this.buffers.set(datasetId, buffer);
    }
    return buffer;
  }
}
