import { findDataset } from '../datasets/index.ts';
import { messageIdFor, parseTopic, rawLine, TOPIC_ROOT, unroutedLine } from '../functions/core/envelope.ts';
import { UNROUTED } from '../functions/core/keys.ts';
import { RawBuffer, type BufferingHints, type SealedListener } from './raw-buffer.ts';
import { join } from 'node:path';

/** Messages the ingest has taken in, per dataset (UNROUTED for unknown datasets). */
export type ArrivalCounts = Map<string, number>;

/**
 * The local topic rule: what IoT Core's rule and Firehose do in the cloud.
 * It stamps each message on a Datastroom topic with its envelope and appends
 * it to its dataset's durable buffer; the returned promise settles once the
 * line is on disk, and only then may the broker acknowledge the message.
 */
export class Ingest {
  private readonly buffers = new Map<string, RawBuffer>();
  readonly arrivals: ArrivalCounts = new Map();

  constructor(
    private readonly bufferRoot: string,
    private readonly dataRoot: string,
    private readonly hints: BufferingHints,
    private readonly onSealed: SealedListener,
  ) {}

  /** Takes one message in. Returns undefined for topics outside `datastroom/`, which are not the platform's. */
  accept(topic: string, payload: Buffer, receivedAt: Date = new Date()): Promise<void> | undefined {
    if (topic !== TOPIC_ROOT && !topic.startsWith(`${TOPIC_ROOT}/`)) return undefined;
    const messageId = messageIdFor(topic, payload);
    const parsed = parseTopic(topic);
    const dataset = parsed ? findDataset(parsed.datasetId) : undefined;
    if (!parsed || !dataset) {
      return this.append(UNROUTED, unroutedLine(topic, messageId, receivedAt, payload));
    }
    return this.append(dataset.id, rawLine(parsed.sensorId, messageId, receivedAt, payload));
  }

  private append(datasetId: string, line: string): Promise<void> {
    this.arrivals.set(datasetId, (this.arrivals.get(datasetId) ?? 0) + 1);
    let buffer = this.buffers.get(datasetId);
    if (!buffer) {
      buffer = new RawBuffer(datasetId, join(this.bufferRoot, datasetId), this.dataRoot, this.hints, this.onSealed);
      this.buffers.set(datasetId, buffer);
    }
    return buffer.append(line);
  }

  /** Seals every open buffer into the raw zone. */
  async sealAll(): Promise<void> {
    await Promise.all([...this.buffers.values()].map((b) => b.seal()));
  }
}
