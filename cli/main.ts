import { DatasetDefinitionError } from '../datasets/index.ts';
import { UsageError } from './args.ts';
import { COST_USAGE, costCommand } from './commands/cost.ts';
import { DATASETS_USAGE, datasetsCommand } from './commands/datasets.ts';
import { DEV_USAGE, devCommand } from './commands/dev.ts';
import { FAILED_USAGE, failedCommand } from './commands/failed.ts';
import { QUERY_USAGE, queryCommand } from './commands/query.ts';
import { SCHEMA_USAGE, schemaCommand } from './commands/schema.ts';
import { SENSORS_USAGE, sensorsCommand } from './commands/sensors.ts';

const USAGE = `Usage: datastroom <command> [options]

Commands:
  dev        run the local platform (MQTT broker, zones, transform, demo fleet)
  query      run SQL on the curated zone
  datasets   show the dataset register
  schema     the JSON Schema of a dataset's readings, for vendors
  sensors    register, list and revoke sensors (AWS IoT Core, or --local)
  failed     raw objects whose transform failed, and trying them again
  cost       the monthly AWS cost of a fleet, line by line

Every command takes --data-dir DIR (default .datastroom) and --help.

${DEV_USAGE.split('\n')[0]}
${QUERY_USAGE.split('\n')[0]}
${DATASETS_USAGE.split('\n')[0]}
${SCHEMA_USAGE.split('\n')[0]}
${SENSORS_USAGE.split('\n')[0]}
${FAILED_USAGE.split('\n')[0]}
${COST_USAGE.split('\n')[0]}`;

/** Runs one command line; returns the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'dev':
        return await devCommand(rest);
      case 'query':
        return await queryCommand(rest);
      case 'datasets':
        return await datasetsCommand(rest);
      case 'schema':
        return await schemaCommand(rest);
      case 'sensors':
        return await sensorsCommand(rest);
      case 'failed':
        return await failedCommand(rest);
      case 'cost':
        return await costCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`datastroom: ${error.message}\n`);
      return 2;
    }
    if (error instanceof DatasetDefinitionError || error instanceof Error) {
      process.stderr.write(`datastroom ${command}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`datastroom ${command}: ${String(error)}\n`);
    return 1;
  }
}
