import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { createTransformEngine } from '../functions/core/engine.ts';
import { LocalObjectStore } from '../functions/adapters/local-store.ts';
import type { TransformPolicy } from '../functions/core/reading.ts';
import { startBroker, type BrokerLimits, type EmbeddedBroker } from './broker.ts';
import { DEFAULT_DATA_DIR, dataDirLayout, ensureDataDir, loadPseudonymKey, type DataDirLayout } from './data-dir.ts';
import { DeviceRegistry } from './devices.ts';
import { FailedObjects, RETRY_POLICY, type RetryPolicy } from './failed-objects.ts';
import { HTTP_PUSH_DEFAULTS, startHttpPush, type HttpPushEndpoint } from './http-push.ts';
import { Ingest } from './ingest.ts';
import { LocalPuller } from './pull.ts';
import { getDataset, type PullSource } from '../datasets/index.ts';
import { acceptedFormats } from '../functions/core/formats.ts';
import type { RetryOptions } from '../functions/core/pull.ts';
import { TransformPipeline, type PipelineFailure } from './pipeline.ts';
import { BUFFERING_DEFAULTS, type BufferingHints, type OpenBufferFile } from './raw-buffer.ts';
import { Simulator, type SimulatorOptions } from './simulator.ts';
import { describeCompaction, LocalCompactedSources, LocalCompactor } from './compaction.ts';
import type { CompactionPolicy } from '../functions/core/compaction.ts';
import { RunStats, type RunSummary } from './stats.ts';
import { writeLocalPlaces } from './places.ts';
import { DashboardAggregates, type Audience, type TileConfig } from '../web/aggregates.ts';
import { findWebAssets } from '../web/assets.ts';
import { DashboardFeed } from '../web/feed.ts';
import { startDashboardServer, type DashboardServer } from '../web/server.ts';
import { DEMO_CITY } from './city.ts';

/** Options of `datastroom dev`. */
export interface LocalPlatformOptions {
  readonly dataDir: string;
  /** @default 1883 */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Run the demo fleet. @default true */
  readonly simulate?: boolean;
  readonly simulator?: Omit<SimulatorOptions, 'brokerUrl'>;
  /** @default BUFFERING_DEFAULTS */
  readonly buffering?: Partial<BufferingHints>;
  /** @default TRANSFORM_DEFAULTS */
  readonly policy?: TransformPolicy;
  /** How often a failing raw object is tried before it is parked. @default RETRY_POLICY */
  readonly retryPolicy?: RetryPolicy;
  /** Where warnings and failures are reported. @default - standard error */
  readonly log?: (line: string) => void;
  /** The embedded broker's limits. @default BROKER_LIMITS */
  readonly brokerLimits?: Partial<BrokerLimits>;
  /** How raw buffer files are opened (a seam for write failures). @default - owner-only files through node:fs */
  readonly openBufferFile?: OpenBufferFile;
  /**
   * Background compaction of settled partitions, or false for none.
   * @default COMPACTION_DEFAULTS, checked every LOCAL_COMPACTION_INTERVAL_MS
   */
  readonly compaction?: false | { readonly policy?: CompactionPolicy; readonly intervalMs?: number };
  /**
   * HTTP push for registered integrations, or false for none. Its host is the broker's.
   * @default - on HTTP_PUSH_DEFAULTS.port, or any free port when that is taken or `port` is 0
   */
  readonly http?: false | { readonly port?: number };
  /**
   * Pull sources to poll, each on its schedule unless `schedule` is false
   * (then only `puller.poll(id)` polls).
   * @default - none
   */
  readonly pull?: { readonly sources: readonly PullSource[]; readonly retry?: RetryOptions; readonly schedule?: boolean; readonly now?: () => number };
  /** The city dashboard, or false for none. @default - on DASHBOARD_PORT, for the city's staff */
  readonly dashboard?: false | DashboardOptions;
}

/** The city dashboard `dev` serves. */
export interface DashboardOptions {
  /** @default DASHBOARD_PORT, or any free port when that one is taken */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Who the dashboard is for: `public` shows open datasets only. @default 'internal' */
  readonly audience?: Audience;
  /** A second, public dashboard (open datasets only) on this port. @default - none */
  readonly publicPort?: number;
  /** @default null - no tiles: the city's outline on a plain background */
  readonly tiles?: TileConfig | null;
  /** The built page. @default - the current build's (findWebAssets) */
  readonly assetsDir?: string;
}

/** The dashboard's port unless told otherwise. */
export const DASHBOARD_PORT = 8765;

/** How often `dev` looks for settled partitions to compact. */
export const LOCAL_COMPACTION_INTERVAL_MS = 5 * 60_000;


/** A running local platform. */
export interface LocalPlatform {
  readonly port: number;
  readonly layout: DataDirLayout;
  readonly stats: RunStats;
  readonly ingest: Ingest;
  readonly pipeline: TransformPipeline;
  readonly simulator: Simulator | undefined;
  readonly devices: DeviceRegistry;
  readonly broker: EmbeddedBroker;
  /** The pull sources' poller, when sources were given. */
  readonly puller: LocalPuller | undefined;
  /** The HTTP push endpoint, unless switched off. */
  readonly http: HttpPushEndpoint | undefined;
  /** Background compaction, unless switched off. */
  readonly compactor: LocalCompactor | undefined;
  /** The dashboard's servers and aggregates, unless switched off. */
  readonly dashboard: { readonly url: string; readonly publicUrl?: string; readonly aggregates: DashboardAggregates; readonly feed: DashboardFeed } | undefined;
  /** Stops publishing, stops the broker, seals every buffer, transforms everything, and reports (what could not be sealed: `ingest.unsealed`). */
  stop(): Promise<RunSummary>;
}

/** One line on the authentication mode in force, for the start and for each change. */
function describeAuthentication(devices: DeviceRegistry, dataDirOption: string, now = ''): string {
  const count = `${devices.registered} registered device${devices.registered === 1 ? '' : 's'}`;
  if (devices.enforcing) {
    return `device authentication is ${now}on: ${count} and the demo fleet may connect, each with its own credentials, and publish only to its own topic (switch it off with: npx datastroom sensors auth off --local${dataDirOption})`;
  }
  if (devices.registered === 0) {
    return `device authentication is ${now}off: no device is registered, so any client may publish on any topic (register one with: npx datastroom sensors register --local <dataset> <sensorId>${dataDirOption})`;
  }
  return `device authentication is ${now}off, as switched off by an operator: any client may publish on any topic although there are ${count} (switch it on with: npx datastroom sensors auth on --local${dataDirOption})`;
}

/** Removes everything inside a directory, keeping the directory (and its mode). */
async function emptyDirectory(dir: string): Promise<void> {
  for (const entry of await readdir(dir).catch(() => [])) await rm(join(dir, entry), { recursive: true, force: true });
}

/** The data dir is held by another running `datastroom dev`. */
export class DataDirBusyError extends Error {
  constructor(dir: string, cause: Error) {
    super(`data directory ${dir} is in use by another datastroom process (${cause.message.split('\n')[0]})`);
    this.name = 'DataDirBusyError';
  }
}

/**
 * Starts the local platform: recovers what a previous run left (unsealed
 * buffers, untransformed raw objects), then starts the transform pipeline,
 * the ingest, the broker and, unless switched off, the demo fleet.
 */
export async function startLocalPlatform(options: LocalPlatformOptions): Promise<LocalPlatform> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const layout = dataDirLayout(options.dataDir);
  await ensureDataDir(layout);
  // An invalid devices file stops the start here, before any port or database is opened.
  const devices = DeviceRegistry.of(layout, { log });
  await devices.open();
  const pseudonymKey = await loadPseudonymKey(layout);
  let duckdb: DuckDBInstance;
  try {
    duckdb = await createTransformEngine({ path: layout.database, tempDirectory: join(layout.scratch, 'spill') });
  } catch (error) {
    devices.close();
    if (error instanceof Error && /lock/i.test(error.message)) throw new DataDirBusyError(layout.root, error);
    throw error;
  }
  // Only one process holds the database: what scratch holds now was left by a transform that was killed
  // (a raw object's copy, plates in clear), never by one that runs.
  await emptyDirectory(layout.scratch);
  const store = new LocalObjectStore(layout.root);
  const stats = new RunStats();
  let feed: DashboardFeed | undefined;
  const failures = FailedObjects.of(layout);
  const pipeline: TransformPipeline = new TransformPipeline({
    compacted: new LocalCompactedSources(layout.root),
    store,
    duckdb,
    pseudonymKey,
    scratch: layout.scratch,
    policy: options.policy,
    failures,
    retryPolicy: options.retryPolicy,
    onResult: (event) => {
      stats.record(event);
      feed?.added(event.datasetId, event.curatedKeys);
    },
    onFailure: (failure: PipelineFailure) => {
      const what = `transform of ${failure.rawKey} failed (attempt ${failure.attempts} of ${(options.retryPolicy ?? RETRY_POLICY).maxAttempts}): ${failure.error.message}`;
      if (failure.parked) log(`${what}; parked: \`npx datastroom failed\` lists it, \`npx datastroom failed --retry\` tries it again`);
      else if (failure.retryInMs !== undefined) log(`${what}; trying again in ${Math.round(failure.retryInMs / 1000)} s`);
      else log(`${what}; tried again at the next start`);
    },
  });
  try {
    await pipeline.open();
    const parked = (await failures.list()).filter((f) => f.parked);
    if (parked.length > 0) {
      log(`${parked.length} raw object${parked.length === 1 ? ' is' : 's are'} parked as failed: \`npx datastroom failed\` lists them, \`npx datastroom failed --retry\` tries them again`);
    }
  } catch (error) {
    devices.close();
    duckdb.closeSync();
    throw error;
  }
  pipeline.watchReleased();
  // One DuckDB thread of its own: compaction never takes the transform's engine or both cores.
  const compactor =
    options.compaction === false
      ? undefined
      : new LocalCompactor({ layout, policy: options.compaction?.policy, threads: 1, exclusive: (swap) => pipeline.exclusive(swap) });
  compactor?.start(
    options.compaction === false ? LOCAL_COMPACTION_INTERVAL_MS : (options.compaction?.intervalMs ?? LOCAL_COMPACTION_INTERVAL_MS),
    (summary) => {
      for (const report of summary.compacted) log(describeCompaction(report));
    },
    (error) => log(`compaction failed: ${error.message}; the partition keeps its files and is tried again at the next run`),
  );

  const ingest = new Ingest(
    layout.buffers,
    layout.root,
    { ...BUFFERING_DEFAULTS, ...options.buffering },
    (_dataset, key) => pipeline.enqueue(key),
    { log, openBufferFile: options.openBufferFile },
  );
  // A previous run may have stopped hard: its buffers hold acknowledged messages.
  for (const key of await ingest.recoverLeftovers()) log(`recovered ${key} from an unfinished buffer`);
  for (const key of await pipeline.untransformed()) pipeline.enqueue(key);

  let broker: EmbeddedBroker | undefined;
  let http: HttpPushEndpoint | undefined;
  const puller =
    options.pull && options.pull.sources.length > 0
      ? new LocalPuller({ layout, ingest, sources: options.pull.sources, retry: options.pull.retry, now: options.pull.now, log })
      : undefined;
  const servers: DashboardServer[] = [];
  /** Closes what has started, when a later part cannot start. */
  const abandon = async (error: unknown): Promise<never> => {
    for (const server of servers) await server.close();
    await feed?.close();
    await puller?.stop();
    await http?.close();
    await broker?.close();
    devices.close();
    await compactor?.stop();
    await pipeline.close();
    duckdb.closeSync();
    throw error;
  };
  try {
    broker = await startBroker({ ...options.brokerLimits, port: options.port, host: options.host, ingest, devices, log });
  } catch (error) {
    return abandon(error);
  }
  if (options.http !== false) {
    const asked = options.http?.port;
    try {
      http = await startHttpPush({
        ingest,
        devices,
        host: options.host,
        port: asked ?? (options.port === 0 ? 0 : HTTP_PUSH_DEFAULTS.port),
        fallback: asked === undefined,
        formatsOf: (datasetId) => acceptedFormats(getDataset(datasetId)),
        log,
      });
    } catch (error) {
      return abandon(error);
    }
  }
  if (options.pull?.schedule ?? true) puller?.start();
  // The hints name the data dir when it is not the default, so they work as printed.
  const dataDirOption = options.dataDir === DEFAULT_DATA_DIR ? '' : ` --data-dir ${options.dataDir}`;
  log(describeAuthentication(devices, dataDirOption));
  let mode = devices.authentication;
  devices.onChange(() => {
    if (devices.authentication === mode) return;
    mode = devices.authentication;
    log(describeAuthentication(devices, dataDirOption, 'now '));
  });
  let dashboard: LocalPlatform['dashboard'];
  if (options.dashboard !== false) {
    const settings = options.dashboard ?? {};
    const aggregates = new DashboardAggregates();
    feed = await DashboardFeed.open(layout, aggregates, log);
    const serve = (audience: Audience, port: number) =>
      startDashboardServer({
        aggregates,
        audience,
        port,
        host: settings.host,
        assetsDir: settings.assetsDir ?? findWebAssets(),
        tiles: settings.tiles ?? null,
        city: { name: DEMO_CITY.name, latitude: DEMO_CITY.latitude, longitude: DEMO_CITY.longitude },
      });
    try {
      let first: DashboardServer;
      try {
        first = await serve(settings.audience ?? 'internal', settings.port ?? DASHBOARD_PORT);
      } catch (error) {
        // The default port taken (another dev, another program): any free one, said at start. A port asked for stays an error.
        if (settings.port !== undefined || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
        first = await serve(settings.audience ?? 'internal', 0);
        log(`dashboard port ${DASHBOARD_PORT} is in use: serving the dashboard on ${first.port} instead (choose one with --dashboard-port)`);
      }
      servers.push(first);
      if (settings.publicPort !== undefined) servers.push(await serve('public', settings.publicPort));
    } catch (error) {
      return abandon(error);
    }
    dashboard = { url: servers[0]?.url ?? '', publicUrl: servers[1]?.url, aggregates, feed };
    // The last day is read in the background: the platform runs meanwhile, and later readings add up.
    void feed.start();
  }
  let simulator: Simulator | undefined;
  if (options.simulate ?? true) {
    simulator = new Simulator({
      ...options.simulator,
      brokerUrl: `mqtt://127.0.0.1:${broker.port}`,
      // The demo fleet registers itself for this run only, so authentication switched on mid-run never locks it out.
      credentials: (datasetId, sensorId) => devices.addEphemeral(datasetId, sensorId),
    });
    await simulator.start();
    // The fleet's places, so the map and the sensors view show where it stands.
    await writeLocalPlaces(layout, simulator.places());
  }

  let stopping: Promise<RunSummary> | undefined;
  const stop = async (): Promise<RunSummary> => {
    await simulator?.stop();
    await puller?.stop();
    await http?.close();
    for (const server of servers) await server.close();
    await broker.close();
    devices.close();
    const unsealed = await ingest.sealAll();
    if (unsealed.length > 0) {
      log(`${unsealed.length} raw buffer file(s) could not be sealed into the raw zone; they stay in ${layout.buffers} and the next start recovers them: ${unsealed.join(', ')}`);
    }
    await compactor?.stop();
    await pipeline.close();
    await feed?.close();
    duckdb.closeSync();
    const failed = await failures.list().catch(() => []);
    return stats.summary(simulator?.total ?? 0, { failed: failed.length, parked: failed.filter((f) => f.parked).length });
  };
  return {
    port: broker.port,
    layout,
    stats,
    ingest,
    pipeline,
    simulator,
    devices,
    broker,
    http,
    puller,
    compactor,
    dashboard,
    stop: () => (stopping ??= stop()),
  };
}
