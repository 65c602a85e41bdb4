/**
 * The transform function as Lambda runs it: the bundled asset from the cloud
 * assembly, its environment from the template, invoked in a child process
 * with the SQS event its event source mapping builds from the queue.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { tempDir } from '../../helpers/fixtures.ts';

const RUNTIME = resolve(import.meta.dirname, 'lambda-runtime.mjs');

/** The SQS event Lambda's event source mapping delivers. */
export interface SqsEvent {
  readonly Records: readonly {
    readonly messageId: string;
    readonly receiptHandle: string;
    readonly body: string;
    readonly attributes: Record<string, string>;
    readonly messageAttributes: Record<string, never>;
    readonly md5OfBody: string;
    readonly eventSource: 'aws:sqs';
    readonly eventSourceARN: string;
    readonly awsRegion: string;
  }[];
}

/** Every message the queue holds now, received as the event source mapping receives them. */
export async function receiveAll(sqs: SQSClient, queueUrl: string): Promise<Message[]> {
  const messages: Message[] = [];
  for (;;) {
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['All'] }));
    if (!Messages?.length) return messages;
    messages.push(...Messages);
  }
}

/** Messages as the records of one SQS event. */
export function sqsEvent(messages: readonly Message[], queueArn: string, region: string): SqsEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: { ...m.Attributes },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: region,
    })),
  };
}

/** Deletes messages from the queue, as the event source mapping does with those a batch did not report failed. */
export async function deleteMessages(sqs: SQSClient, queueUrl: string, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const entries = messages.slice(i, i + 10).map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle ?? '' }));
    const { Failed } = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    if (Failed?.length) throw new Error(`could not delete ${Failed.length} messages: ${Failed.map((f) => f.Message).join('; ')}`);
  }
}

/** What a run of the function answered and logged. */
export interface FunctionRun {
  readonly responses: unknown[];
  /** Its standard output and error, one entry per line. */
  readonly logs: string[];
}

/**
 * Invokes a bundled handler with each event in turn, in one process (a warm
 * container). The runtime here is this machine's Node.js, not the one the
 * function declares; the environment holds only what Lambda sets and the
 * function's own variables.
 */
export async function invokeBundled(options: {
  readonly codeDir: string;
  readonly handler: string;
  readonly functionName: string;
  readonly memoryMb: number;
  readonly environment: Record<string, string>;
  readonly events: readonly unknown[];
}): Promise<FunctionRun> {
  const dir = await tempDir('datastroom-lambda-');
  const eventsFile = join(dir, 'events.json');
  const responsesFile = join(dir, 'responses.json');
  await writeFile(eventsFile, JSON.stringify(options.events));
  const env = {
    ...options.environment,
    LAMBDA_TASK_ROOT: options.codeDir,
    AWS_LAMBDA_FUNCTION_NAME: options.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memoryMb),
    TZ: ':UTC',
  };
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [RUNTIME, options.handler, eventsFile, responsesFile], {
    cwd: options.codeDir,
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
  const responses = z.array(z.unknown()).parse(JSON.parse(await readFile(responsesFile, 'utf8')));
  return { responses, logs: `${stdout}${stderr}`.split('\n').filter((l) => l.trim() !== '') };
}
