import { findPullSource, pullSources } from '../../datasets/index.ts';
import { startLocalPlatform } from '../../local/runtime.ts';
import { parse, suggestion, UsageError } from '../args.ts';

export const PULL_USAGE = `Usage: datastroom pull <source> --once [--data-dir DIR]

Polls one pull source now, from its cursor, into the local platform's raw
zone, transforms what arrived, and reports. The sources: ${pullSources.map((s) => s.id).join(', ')}
(datasets/pull-sources.ts). It takes the data dir as datastroom dev does: while dev
runs, poll with "datastroom dev --pull <source>" instead. A secret comes from
DATASTROOM_SECRET_<NAME> or <data-dir>/state/secrets/<name>.

Exits with status 1 if the poll failed (its cursor stays where it was).`;

/** `datastroom pull <source> --once`: returns the exit status. */
export async function pullCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv, { once: { type: 'boolean', default: false } }, true);
  if (values.help) {
    process.stdout.write(`${PULL_USAGE}\n`);
    return 0;
  }
  const [id, ...rest] = positionals;
  if (id === undefined || rest.length > 0) throw new UsageError(`pull takes one source\n\n${PULL_USAGE}`);
  const source = findPullSource(id);
  if (!source) throw new UsageError(`no pull source "${id}"${suggestion(id, pullSources.map((s) => s.id))}; known: ${pullSources.map((s) => s.id).join(', ')}`);
  if (!values.once) throw new UsageError(`pull polls once (--once); to poll on the source's schedule run: datastroom dev --pull ${source.id}`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const platform = await startLocalPlatform({ dataDir: values['data-dir'], port: 0, simulate: false, http: false, compaction: false, log, pull: { sources: [source], schedule: false } });
  const outcome = await platform.puller?.poll(source.id);
  const summary = await platform.stop();
  const counts = summary.datasets[source.datasetId];
  if (!outcome) return 1;
  process.stdout.write(
    `pulled ${source.id}: ${outcome.fresh} new readings in ${outcome.payloads} payload${outcome.payloads === 1 ? '' : 's'}, ${outcome.known} known; ` +
      `${source.datasetId}: curated ${counts?.curated ?? 0}, quarantined ${counts?.quarantined ?? 0}, duplicates ${counts?.duplicates ?? 0}\n`,
  );
  return 0;
}
