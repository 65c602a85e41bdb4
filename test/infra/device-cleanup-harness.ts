/**
 * Runs the device clean-up's inline handler as Lambda would (CommonJS, the
 * SDK from node_modules), with a local stand-in for CloudFormation's
 * pre-signed response URL that records each response.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { DEVICE_CLEANUP_HANDLER } from '../../infra/constructs/device-cleanup.ts';

/** The Lambda context the handler reads. */
export interface CleanupContext {
  getRemainingTimeInMillis(): number;
  readonly logGroupName: string;
}

type Handler = (event: Record<string, unknown>, context: CleanupContext) => Promise<void>;

/** The handler's module, evaluated afresh: its SDK clients are created now, from the environment as it is. */
export function loadCleanupHandler(): Handler {
  const require = createRequire(import.meta.url);
  const module = { exports: {} as { handler?: Handler } };
  new Function('require', 'module', 'exports', DEVICE_CLEANUP_HANDLER)(require, module, module.exports);
  const handler = module.exports.handler;
  if (!handler) throw new Error('the clean-up handler exports no handler');
  return handler;
}

/** A response the handler sent to CloudFormation. */
export const CleanupResponse = z.looseObject({ Status: z.enum(['SUCCESS', 'FAILED']), Reason: z.string(), PhysicalResourceId: z.string(), RequestId: z.string() });

/** The response URL stand-in: what it received, by PUT, in order. */
export interface ResponseRecorder {
  readonly url: string;
  readonly responses: z.infer<typeof CleanupResponse>[];
  readonly methods: string[];
  clear(): void;
  close(): Promise<void>;
}

/** Starts the response URL stand-in on a free loopback port. */
export async function startResponseRecorder(): Promise<ResponseRecorder> {
  const responses: z.infer<typeof CleanupResponse>[] = [];
  const methods: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      methods.push(req.method ?? '');
      responses.push(CleanupResponse.parse(JSON.parse(body)));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/response`,
    responses,
    methods,
    clear: () => {
      responses.length = 0;
      methods.length = 0;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
