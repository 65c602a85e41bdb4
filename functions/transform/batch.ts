import { z } from 'zod';
import { findDataset } from '../../datasets/index.ts';
import { parseRawKey } from '../core/keys.ts';
import { processRawObject } from '../core/process.ts';
import type { ObjectStore } from '../core/store.ts';
import type { TransformEnv, TransformResult } from '../core/transform.ts';

/** The SQS event the function receives, parsed at the trust boundary. */
const SqsEvent = z.object({
  Records: z.array(z.object({ messageId: z.string(), body: z.string() })),
});

/** An S3 object-created event as EventBridge delivers it. */
const ObjectCreated = z.object({
  'detail-type': z.literal('Object Created'),
  detail: z.object({ bucket: z.object({ name: z.string() }), object: z.object({ key: z.string() }) }),
});

/** The answer SQS reads: only the failed messages return to the queue. */
export interface BatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** Where the batch reports what happened: one structured log line per event. */
export type BatchLogger = (level: 'info' | 'error', message: string, fields: Record<string, unknown>) => void;

/** What processing a batch needs. */
export interface BatchDeps {
  readonly store: ObjectStore;
  /** The transform environment, created once per container on first use. */
  readonly env: () => Promise<TransformEnv>;
  readonly scratch: string;
  readonly log: BatchLogger;
  /** Called with each transformed object (metrics). */
  readonly onResult?: (datasetId: string, result: TransformResult) => void;
}

/** An S3 key as EventBridge gives it (not URL-encoded); decoded if a producer encoded it anyway. */
function objectKey(raw: string): string {
  return /%[0-9A-Fa-f]{2}/.test(raw) ? decodeURIComponent(raw.replace(/\+/g, ' ')) : raw;
}

/**
 * Processes one SQS batch of raw-object events. A record fails alone: its
 * message returns to the queue (partial batch response) and is retried,
 * which is safe because a transform rewrites the same keys; after the
 * queue's retries it lands in the dead-letter queue.
 */
export async function processBatch(event: unknown, deps: BatchDeps): Promise<BatchResponse> {
  const parsed = SqsEvent.safeParse(event);
  // Not an SQS batch at all: a wiring fault to surface, not a message to retry.
  if (!parsed.success) throw new Error(`not an SQS event: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
  const { Records } = parsed.data;
  const failures: { itemIdentifier: string }[] = [];
  for (const record of Records) {
    let key = '(unreadable event)';
    try {
      const created = ObjectCreated.safeParse(JSON.parse(record.body));
      if (!created.success) throw new Error(`not an S3 object-created event: ${z.prettifyError(created.error).replace(/\n/g, ' ')}`);
      key = objectKey(created.data.detail.object.key);
      const { datasetId } = parseRawKey(key);
      const dataset = findDataset(datasetId);
      if (!dataset) throw new Error(`raw object ${key} belongs to no dataset in the registry`);
      const result = await processRawObject(deps.store, dataset, key, await deps.env(), deps.scratch);
      deps.onResult?.(datasetId, result);
      const { received, curated, quarantined, duplicates } = result;
      deps.log('info', 'transformed', { key, datasetId, received, curated, quarantined, duplicates });
    } catch (error) {
      deps.log('error', 'transform failed', { key, messageId: record.messageId, error: error instanceof Error ? error.message : String(error) });
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures: failures };
}

/** The counts the per-dataset alarms read (the quarantine rate), published as CloudWatch metrics. */
export const ALARM_METRICS = ['Received', 'Quarantined'] as const;

/** A CloudWatch embedded-metric log line: per dataset, what one object contributed. */
export function metricLine(namespace: string, datasetId: string, result: TransformResult, now: number = Date.now()): string {
  // Only what the alarms read becomes a metric (each costs $0.30 a month per dataset); the other counts
  // stay in the same log line, for CloudWatch Logs Insights.
  return JSON.stringify({
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [{ Namespace: namespace, Dimensions: [['Dataset']], Metrics: ALARM_METRICS.map((Name) => ({ Name, Unit: 'Count' })) }],
    },
    Dataset: datasetId,
    Received: result.received,
    Curated: result.curated,
    Quarantined: result.quarantined,
    Duplicates: result.duplicates,
  });
}
