import { findPullSource, pullSources, registry } from '../../datasets/index.ts';
import { topicFor } from '../../functions/core/envelope.ts';
import { ProgressDisplay } from '../../local/progress.ts';
import { BUFFERING_DEFAULTS } from '../../local/raw-buffer.ts';
import { TRANSFORM_DEFAULTS } from '../../functions/core/reading.ts';
import { DASHBOARD_PORT, startLocalPlatform } from '../../local/runtime.ts';
import { SIMULATOR_DEFAULTS } from '../../local/simulator.ts';
import type { RunSummary } from '../../local/stats.ts';
import { intOption, parse, portOption, suggestion, UsageError } from '../args.ts';
import { HTTP_PUSH_DEFAULTS } from '../../local/http-push.ts';
import { pushPathFor } from '../../functions/core/integrations.ts';
import { DEFAULT_DATA_DIR } from '../../local/data-dir.ts';

function usage(message: string): never {
  throw new UsageError(message);
}

export const DEV_USAGE = `Usage: datastroom dev [options]

Runs the local platform: an embedded MQTT broker, the raw, curated and
quarantine zones under the data dir, the transform, and a demo fleet.

  --port P            MQTT port (default 1883)
  --host H            address to listen on (default 127.0.0.1; 0.0.0.0 for the network)
  --http-port P       HTTP push port for integrations (default ${HTTP_PUSH_DEFAULTS.port}, or a free one if taken)
  --no-http           no HTTP push
  --pull IDS          poll these pull sources on their schedules (comma-separated: ${pullSources.map((p) => p.id).join(', ')}; default none)
  --no-simulate       no demo fleet: publish with any MQTT client
  --sensors N         demo sensors, spread over every dataset (default ${SIMULATOR_DEFAULTS.sensors})
  --interval-ms M     ms between two readings of a sensor (default ${SIMULATOR_DEFAULTS.intervalMs})
  --seed S            seed of the demo fleet (default: a new fleet each run)
  --duration S        stop after S seconds (default: run until Ctrl+C)
  --flush-ms M        seal a raw buffer after M ms (default ${BUFFERING_DEFAULTS.maxAgeMs})
  --flush-bytes B     seal a raw buffer at B bytes (default ${BUFFERING_DEFAULTS.maxBytes})
  --future-tolerance-s S  how far ts may lie after arrival (default ${TRANSFORM_DEFAULTS.futureToleranceSeconds})
  --max-lateness-days D   how far ts may lie before arrival (default ${TRANSFORM_DEFAULTS.maxLatenessDays})
  --dashboard-port P  the city dashboard's HTTP port (default ${DASHBOARD_PORT}, or a free one when taken)
  --no-dashboard      no dashboard
  --public            the dashboard shows open datasets only (as the public site does)
  --public-port P     also serve the public dashboard (open datasets only) on this port
  --tiles URL         map tiles, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png (default: none, the
                      city's outline on a plain background); --tiles-attribution TEXT credits them
  --summary-json      print the run's counts as one JSON object, as the last line
  --data-dir DIR      where the zones live (default .datastroom)

Stopping (Ctrl+C or --duration) flushes every buffer and transforms
everything first; a second Ctrl+C exits at once (what is not yet sealed is
recovered at the next start). It exits with status 1 if a buffer could not be
sealed into the raw zone; the next start recovers it.

While it runs, other commands work on the same data dir: query, status,
sensors register/revoke --local (applied at once; the demo fleet keeps its
own credentials), failed --retry.`;

/** A word as a shell reads it back: quoted when it holds anything but plain path characters. */
function shellWord(text: string): string {
  return /^[\w./:@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

function describeSummary(s: RunSummary): string {
  const lines = [
    `published ${s.published}, received ${s.received}: curated ${s.curated}, quarantined ${s.quarantined}, duplicates ${s.duplicates}` +
      (s.unrouted ? ` (unrouted ${s.unrouted})` : '') +
      (s.failedObjects
        ? `; ${s.failedObjects} raw object${s.failedObjects === 1 ? '' : 's'} failed to transform` +
          (s.parkedObjects ? ` (${s.parkedObjects} parked: npx datastroom failed)` : ', tried again at the next start')
        : ''),
  ];
  return lines.join('\n');
}

export async function devCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      'no-simulate': { type: 'boolean', default: false },
      'http-port': { type: 'string' },
      'no-http': { type: 'boolean', default: false },
      pull: { type: 'string' },
      sensors: { type: 'string' },
      'interval-ms': { type: 'string' },
      seed: { type: 'string' },
      duration: { type: 'string' },
      'flush-ms': { type: 'string' },
      'flush-bytes': { type: 'string' },
      'future-tolerance-s': { type: 'string' },
      'max-lateness-days': { type: 'string' },
      'summary-json': { type: 'boolean', default: false },
      'dashboard-port': { type: 'string' },
      'no-dashboard': { type: 'boolean', default: false },
      public: { type: 'boolean', default: false },
      'public-port': { type: 'string' },
      tiles: { type: 'string' },
      'tiles-attribution': { type: 'string' },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(`${DEV_USAGE}\n`);
    return 0;
  }
  const port = portOption(values.port, 1883);
  if (values['no-http'] && values['http-port'] !== undefined) throw new UsageError('--http-port and --no-http exclude each other');
  const httpPort = values['http-port'] === undefined ? undefined : intOption('http-port', values['http-port'], 0, 0, 65_535);
  const pulled = (values.pull ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '')
    .map((id) => findPullSource(id) ?? usage(`--pull: no pull source "${id}"${suggestion(id, pullSources.map((p) => p.id))}; known: ${pullSources.map((p) => p.id).join(', ')}`));
  const duration = values.duration === undefined ? undefined : intOption('duration', values.duration, 0, 1);
  const sensors = intOption('sensors', values.sensors, SIMULATOR_DEFAULTS.sensors, 1);
  const simulator = {
    sensors,
    intervalMs: intOption('interval-ms', values['interval-ms'], SIMULATOR_DEFAULTS.intervalMs, 1),
    seed: values.seed === undefined ? undefined : intOption('seed', values.seed, 0),
  };
  const buffering = {
    maxAgeMs: intOption('flush-ms', values['flush-ms'], BUFFERING_DEFAULTS.maxAgeMs, 1),
    maxBytes: intOption('flush-bytes', values['flush-bytes'], BUFFERING_DEFAULTS.maxBytes, 1),
  };
  const policy = {
    futureToleranceSeconds: intOption('future-tolerance-s', values['future-tolerance-s'], TRANSFORM_DEFAULTS.futureToleranceSeconds),
    maxLatenessDays: intOption('max-lateness-days', values['max-lateness-days'], TRANSFORM_DEFAULTS.maxLatenessDays, 1),
  };
  if (values['no-dashboard'] && (values['dashboard-port'] !== undefined || values['public-port'] !== undefined || values.public)) {
    throw new UsageError('--no-dashboard leaves no dashboard to give a port or audience');
  }
  if (values['tiles-attribution'] !== undefined && values.tiles === undefined) throw new UsageError('--tiles-attribution credits the tiles of --tiles');
  if (values.tiles !== undefined && !/^https:\/\/[^\s]+\{z\}[^\s]*\{x\}[^\s]*\{y\}/.test(values.tiles)) {
    throw new UsageError(`--tiles must be an https URL template with {z}, {x} and {y}, got "${values.tiles}"`);
  }
  const dashboard = values['no-dashboard']
    ? (false as const)
    : {
        port: values['dashboard-port'] === undefined ? undefined : intOption('dashboard-port', values['dashboard-port'], DASHBOARD_PORT, 0, 65_535),
        host: values.host,
        audience: values.public ? ('public' as const) : ('internal' as const),
        publicPort: values['public-port'] === undefined ? undefined : intOption('public-port', values['public-port'], 0, 0, 65_535),
        tiles: values.tiles === undefined ? null : { url: values.tiles, attribution: values['tiles-attribution'] ?? '' },
      };
  // Every line the platform logs goes through the display, above its table, so none is overwritten.
  const display = new ProgressDisplay(process.stderr);
  const log = (line: string) => display.log(line);
  const platform = await startLocalPlatform({
    dataDir: values['data-dir'],
    port,
    host: values.host,
    simulate: !values['no-simulate'],
    simulator,
    buffering,
    policy,
    log,
    dashboard,
    http: values['no-http'] ? false : { port: httpPort },
    pull: { sources: pulled },
  });
  // Listening before the first line is printed: a Ctrl+C as soon as dev says it listens stops it cleanly.
  const stopRequested = new Promise<void>((resolve) => {
    const timer = duration ? setTimeout(resolve, duration * 1000) : undefined;
    let signals = 0;
    const onSignal = () => {
      signals += 1;
      if (signals > 1) {
        display.stop();
        process.stderr.write('\nsecond interrupt: exiting now; unsealed buffers are recovered at the next start\n');
        process.exit(130);
      }
      log('stopping: flushing buffers and transforming what is left (Ctrl+C again to exit at once)');
      clearTimeout(timer);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const dataDirOption = values['data-dir'] === DEFAULT_DATA_DIR ? '' : ` --data-dir ${shellWord(values['data-dir'])}`;
  const example = registry[0] ? topicFor(registry[0].id, 'sensor-1') : 'datastroom/<dataset>/<sensorId>';
  for (const line of [
    `MQTT broker listening on mqtt://${values.host ?? '127.0.0.1'}:${platform.port}`,
    `  publish JSON readings to datastroom/<dataset>/<sensorId>, e.g. ${example}`,
    platform.http
      ? `HTTP push listening on http://${platform.http.host}:${platform.http.port}: POST ${pushPathFor('<dataset>', '<format>').replace('/<format>', '[/<format>]')} with an integration's credentials (npx datastroom integrations register --local ...${dataDirOption})`
      : '  no HTTP push (--no-http)',
    `  data in ${platform.layout.root} (raw, curated, quarantine)`,
    ...pulled.map((p) => `  polling ${p.id} (${p.title}) every ${p.schedule} into ${p.datasetId}; its cursor in ${platform.layout.state}/pull/${p.id}.json`),
    platform.simulator ? `  demo fleet of ${sensors} sensors is publishing` : '  no demo fleet (--no-simulate)',
    ...(platform.dashboard
      ? [
          `  city dashboard on ${platform.dashboard.url}${values.public ? ' (public: open datasets only)' : ''}`,
          ...(platform.dashboard.publicUrl ? [`  public dashboard (open datasets only) on ${platform.dashboard.publicUrl}`] : []),
        ]
      : []),
    `  query with: npx datastroom query "select count(*) from ${registry[0]?.id ?? 'air_quality'}"${dataDirOption}`,
    `  at a glance: npx datastroom status${dataDirOption}`,
    duration ? `  stopping after ${duration} s` : '  Ctrl+C stops (after flushing and transforming everything)',
    '',
  ]) {
    log(line);
  }
  display.start({
    stats: platform.stats,
    arrivals: platform.ingest.arrivals,
    unrouted: platform.ingest.unrouted,
    outside: platform.ingest.outside,
    get backlog() {
      return platform.pipeline.backlog;
    },
    get published() {
      return platform.simulator?.total ?? 0;
    },
  });

  await stopRequested;
  const summary = await platform.stop();
  display.stop();
  const ignored = platform.ingest.outside.total;
  for (const [id, p] of platform.puller?.stats() ?? []) {
    process.stderr.write(`pull ${id}: ${p.polls} poll${p.polls === 1 ? '' : 's'}, ${p.fresh} new readings in ${p.payloads} payloads, ${p.retries} retries, ${p.failures} failed\n`);
  }
  if (platform.http) {
    const { accepted, refused } = platform.http.stats();
    const refusals = Object.entries(refused).map(([status, n]) => `${n} × ${status}`);
    process.stderr.write(`HTTP push: ${accepted} payloads accepted${refusals.length > 0 ? `, refused ${refusals.join(', ')}` : ''}\n`);
  }
  process.stderr.write(`${describeSummary(summary)}${ignored > 0 ? `; ${ignored} message${ignored === 1 ? '' : 's'} on topics outside datastroom/ ignored` : ''}\n`);
  if (values['summary-json']) process.stdout.write(`${JSON.stringify(summary)}\n`);
  const unsealed = platform.ingest.unsealed;
  if (unsealed.length > 0) {
    process.stderr.write(
      `datastroom dev: ${unsealed.length} raw buffer file(s) could not be sealed into ${platform.layout.root}/raw (see above); ` +
        'their messages are safe where they are: fix the cause (permissions, free space) and start dev again to recover them\n',
    );
    return 1;
  }
  return 0;
}
