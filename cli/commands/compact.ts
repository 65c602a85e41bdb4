import { findDataset, registry } from '../../datasets/index.ts';
import { COMPACTION_DEFAULTS } from '../../functions/core/compaction.ts';
import { describeCompaction, LocalCompactor } from '../../local/compaction.ts';
import { dataDirLayout, ensureDataDir } from '../../local/data-dir.ts';
import { parse, UsageError } from '../args.ts';

export const COMPACT_USAGE = `Usage: datastroom compact [--dataset ID] [--all] [--json]

Rewrites the curated zone's settled partitions, one small Parquet file per
raw object, into one file per arrival date (sorted by sensor and time),
removing duplicates by message id across the whole partition. A partition
settles once its day has been over for ${COMPACTION_DEFAULTS.settleMinutes} minutes and no raw object
has written into it for as long. datastroom dev does this by itself every
few minutes; this command does it now, also while dev runs.

  --dataset ID        only this dataset (repeat for several; default: all)
  --all               also partitions that have not settled (today's too)
  --json              print the summary as one JSON object
  --data-dir DIR      (default .datastroom)`;

/** How long to wait for a dev that is compacting the same dataset. */
const WAIT_FOR_OTHER_MS = 120_000;

/** `datastroom compact`: returns the exit status. */
export async function compactCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(
    argv,
    { dataset: { type: 'string', multiple: true }, all: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
    false,
  );
  if (values.help) {
    process.stdout.write(`${COMPACT_USAGE}\n`);
    return 0;
  }
  const datasets = (values.dataset ?? []).map((id) => {
    const dataset = findDataset(id);
    if (!dataset) throw new UsageError(`unknown dataset "${id}": one of ${registry.map((d) => d.id).join(', ')}`);
    return dataset;
  });
  const layout = dataDirLayout(values['data-dir']);
  await ensureDataDir(layout);
  const compactor = new LocalCompactor({ layout });
  let summary;
  try {
    summary = await compactor.run({
      datasets: datasets.length > 0 ? datasets : undefined,
      all: values.all,
      waitMs: WAIT_FOR_OTHER_MS,
      onStart: (p, i, total) => process.stderr.write(`[${i + 1}/${total}] ${p.dataset.id} dt=${p.dt}: ${p.files.length} files...\n`),
      onPartition: (report) => process.stderr.write(`${describeCompaction(report)}\n`),
    });
  } finally {
    await compactor.stop();
  }
  const filesBefore = summary.compacted.reduce((n, r) => n + r.filesBefore, 0);
  const filesAfter = summary.compacted.reduce((n, r) => n + r.filesAfter, 0);
  const rows = summary.compacted.reduce((n, r) => n + r.rowsOut, 0);
  const duplicates = summary.compacted.reduce((n, r) => n + r.duplicates, 0);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ partitions: summary.compacted.length, filesBefore, filesAfter, rows, duplicates, waiting: summary.waiting, busy: summary.busy, compacted: summary.compacted })}\n`);
  } else {
    const waiting = summary.waiting.open + summary.waiting.settling;
    process.stdout.write(
      `compacted ${summary.compacted.length} partition${summary.compacted.length === 1 ? '' : 's'}: ${filesBefore} files into ${filesAfter}, ${rows} rows, ${duplicates} duplicate${duplicates === 1 ? '' : 's'} removed` +
        (waiting > 0 ? `; ${waiting} partition${waiting === 1 ? '' : 's'} not settled yet (--all compacts ${waiting === 1 ? 'it' : 'them'} too)` : '') +
        '\n',
    );
  }
  if (summary.busy.length > 0) {
    process.stderr.write(`datastroom compact: another process kept compacting ${summary.busy.join(', ')} for ${WAIT_FOR_OTHER_MS / 1000} s; left to it, run again later\n`);
    return 1;
  }
  return 0;
}
