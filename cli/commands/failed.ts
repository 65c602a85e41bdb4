import { dataDirLayout } from '../../local/data-dir.ts';
import { FailedObjects, RETRY_POLICY } from '../../local/failed-objects.ts';
import { parse, UsageError } from '../args.ts';
import { formatRows } from '../format.ts';

export const FAILED_USAGE = `Usage: datastroom failed [--retry [<rawKey> ...]] [--json]

The raw objects whose transform failed: attempts, the last error, and
whether each is parked (tried ${RETRY_POLICY.maxAttempts} times; no more automatic tries). A reading
never fails its object (it is quarantined instead): these failed for another
reason, such as a full disk or a bug. The raw objects themselves are kept.

  --retry             give every parked object its attempts back (or only the
                      keys named): a running datastroom dev takes them up within
                      seconds, otherwise the next start does
  --json              list as JSON
  --data-dir DIR      (default .datastroom)`;

/** `datastroom failed`: returns the exit status. */
export async function failedCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv, { retry: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } }, true);
  if (values.help) {
    process.stdout.write(`${FAILED_USAGE}\n`);
    return 0;
  }
  const ledger = FailedObjects.of(dataDirLayout(values['data-dir']));
  if (values.retry) {
    const named = positionals.length > 0 ? positionals : undefined;
    const released = await ledger.release(named);
    const unknown = (named ?? []).filter((k) => !released.includes(k));
    if (unknown.length > 0) throw new UsageError(`not parked as failed: ${unknown.join(', ')} (npx datastroom failed lists what is)`);
    process.stdout.write(
      released.length === 0
        ? 'no raw object is parked as failed\n'
        : `released ${released.length} raw object${released.length === 1 ? '' : 's'}; a running datastroom dev tries ${released.length === 1 ? 'it' : 'them'} within seconds, or the next start does\n`,
    );
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`failed takes raw keys only with --retry\n\n${FAILED_USAGE}`);
  const objects = await ledger.list();
  const rows = objects.map((o) => [o.rawKey, o.parked ? 'parked' : 'retrying', o.attempts, o.lastFailedAt, o.lastError]);
  process.stdout.write(`${formatRows(values.json ? 'json' : 'table', ['raw_key', 'state', 'attempts', 'last_failed_at', 'last_error'], rows)}\n`);
  return 0;
}
