// A stand-in for the Lambda Node.js runtime, enough to run a bundled handler:
// loads <module>.<export> from the code directory as the runtime does
// (CommonJS, from LAMBDA_TASK_ROOT) and invokes it with each event in turn in
// this one process, as a warm container would; writes the responses as JSON.
import { createRequire } from 'node:module';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

const [handlerName, eventsFile, responsesFile] = process.argv.slice(2);
const taskRoot = process.env.LAMBDA_TASK_ROOT;
const [moduleName, exportName] = handlerName.split('.');
const require = createRequire(join(taskRoot, 'index.js'));
const handler = require(join(taskRoot, moduleName))[exportName];
if (typeof handler !== 'function') throw new Error(`${handlerName}: no such handler in ${taskRoot}`);

const responses = [];
for (const event of JSON.parse(await readFile(eventsFile, 'utf8'))) {
  const context = { awsRequestId: randomUUID(), functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, getRemainingTimeInMillis: () => 300_000 };
  responses.push(await handler(event, context));
}
await writeFile(responsesFile, JSON.stringify(responses));
// The runtime freezes the container rather than waiting for open handles (DuckDB's) to close.
process.exit(0);
