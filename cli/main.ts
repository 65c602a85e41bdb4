/**
 * The datastroom command. Each command's module is loaded only when it runs:
 * `--help` and `--version` load nothing but this file, and `query` never
 * loads the MQTT broker or the AWS SDK it does not use.
 */
import { DEFAULT_DATA_DIR } from '../local/data-dir.ts';
import { suggestion, UsageError } from './args.ts';

/** One command: a line of summary and its module, loaded when it runs. */
interface Command {
  readonly summary: string;
  readonly run: (argv: readonly string[]) => Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  dev: { summary: 'run the local platform (MQTT broker, zones, transform, demo fleet)', run: async (a) => (await import('./commands/dev.ts')).devCommand(a) },
  query: { summary: 'run SQL on the curated zone; export to CSV, Excel or Parquet', run: async (a) => (await import('./commands/query.ts')).queryCommand(a) },
  status: { summary: 'per dataset: rows, last reading and its age, quarantine rate', run: async (a) => (await import('./commands/status.ts')).statusCommand(a) },
  bi: { summary: 'write a DuckDB database file with the views, for BI tools', run: async (a) => (await import('./commands/bi.ts')).biCommand(a) },
  datasets: { summary: 'show the dataset register', run: async (a) => (await import('./commands/datasets.ts')).datasetsCommand(a) },
  schema: { summary: 'the JSON Schema of a dataset\'s readings, for vendors', run: async (a) => (await import('./commands/schema.ts')).schemaCommand(a) },
  sensors: { summary: 'register, list and revoke sensors (AWS IoT Core, or --local)', run: async (a) => (await import('./commands/sensors.ts')).sensorsCommand(a) },
  integrations: { summary: 'register, list and revoke integrations: HTTP push and gateways (AWS, or --local)', run: async (a) => (await import('./commands/integrations.ts')).integrationsCommand(a) },
  pull: { summary: 'poll a pull source once into the local platform (Telraam, IRCEL-CELINE, Opendatasoft)', run: async (a) => (await import('./commands/pull.ts')).pullCommand(a) },
  failed: { summary: 'raw objects whose transform failed, and trying them again', run: async (a) => (await import('./commands/failed.ts')).failedCommand(a) },
  compact: { summary: 'rewrite settled partitions into few large Parquet files', run: async (a) => (await import('./commands/compact.ts')).compactCommand(a) },
  cost: { summary: 'the monthly AWS cost of a fleet, line by line', run: async (a) => (await import('./commands/cost.ts')).costCommand(a) },
  governance: { summary: 'write the register of processing activities (GDPR art. 30) for the DPO', run: async (a) => (await import('./commands/governance.ts')).governanceCommand(a) },
  publish: { summary: 'write the open-data portal: DCAT-AP catalog, daily CSV and Parquet', run: async (a) => (await import('./commands/publish.ts')).publishCommand(a) },
};

/** The version this command reports (package.json's, set by the build; the sources report their own). */
declare const DATASTROOM_VERSION: string | undefined;

async function version(): Promise<string> {
  if (typeof DATASTROOM_VERSION === 'string') return DATASTROOM_VERSION;
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  const parsed: unknown = JSON.parse(text);
  return typeof parsed === 'object' && parsed !== null && 'version' in parsed && typeof parsed.version === 'string' ? parsed.version : 'unknown';
}

const USAGE = `Usage: datastroom <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

Every command takes --data-dir DIR (default ${DEFAULT_DATA_DIR}) and --help;
datastroom <command> --help tells more. datastroom --version prints the version.
Status: 0 done, 1 failed, 2 a command line to correct.`;

/** Runs one command line; returns the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      case '--version':
      case '-v':
      case 'version':
        process.stdout.write(`datastroom ${await version()}\n`);
        return 0;
    }
    const entry = COMMANDS[command];
    if (!entry) {
      const hint = command.startsWith('-') ? ': options follow the command' : suggestion(command, Object.keys(COMMANDS));
      throw new UsageError(`unknown command "${command}"${hint}\n\n${USAGE}`);
    }
    return await entry.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`datastroom${command && COMMANDS[command] ? ` ${command}` : ''}: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`datastroom ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
