import { basename, join } from 'node:path';
import { findDataset } from '../datasets/index.ts';
import { isDatasetRuleName, messageIdFor, parseTopic, rawLine, splitBasicIngestTopic, TOPIC_ROOT, unroutedLine } from '../functions/core/envelope.ts';
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

/** How the ingest reports trouble and opens its buffer files. */
export interface IngestOptions {
  /** Where write and seal failures are reported, once per episode. @default - standard error */
  readonly log?: (line: string) => void;
  /** @default openBufferFile, owner-only files */
  readonly openBufferFile?: OpenBufferFile;
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

  constructor(
    private readonly bufferRoot: string,
    private readonly dataRoot: string,
    private readonly hints: BufferingHints,
    private readonly onSealed: SealedListener,
    private readonly options: IngestOptions = {},
  ) {
    this.health = new BufferHealthLog(options.log ?? ((line) => process.stderr.write(`${line}\n`)));
  }

  /**
   * Takes one message in. Returns undefined for topics outside `datastroom/`, which are not the platform's.
   * A Basic Ingest topic (`$aws/rules/<rule>/datastroom/...`, as a device set up for AWS publishes) counts
   * as the topic after its prefix, as the rule sees it on AWS; one naming a rule not of its dataset is unrouted.
   */
  accept(published: string, payload: Buffer, receivedAt: Date = new Date()): Promise<void> | undefined {
    const basic = splitBasicIngestTopic(published);
    const topic = basic?.topic ?? published;
    if (topic !== TOPIC_ROOT && !topic.startsWith(`${TOPIC_ROOT}/`)) return undefined;
    const parsed = parseTopic(topic);
    const dataset = parsed ? findDataset(parsed.datasetId) : undefined;
    if (!parsed || !dataset || (basic && !isDatasetRuleName(basic.ruleName, dataset.id))) {
      return this.bufferOf(UNROUTED).append(unroutedLine(published, messageIdFor(published, payload), receivedAt, payload));
    }
    return this.bufferOf(dataset.id).append(rawLine(parsed.sensorId, messageIdFor(topic, payload), receivedAt, payload));
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
