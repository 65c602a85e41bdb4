/**
 * How the cloud data path is sized: the delivery streams' buffering and the
 * transform function's memory, chosen from the Firehose benchmark
 * (`npm run bench`, figures in cost/measured-transform.json) and from what
 * each choice costs (`datastroom cost`). The constructs build from these
 * values and the cost estimate reads them; nothing here imports aws-cdk-lib,
 * so the CLI stays light.
 */

/**
 * How long a delivery stream buffers before it writes a raw object, and how
 * much at most. Firehose bills by the record, not by the object, so the
 * buffer sets only what is paid per object: a transform invocation, its
 * X-Ray trace and log lines, a raw PUT and GET, a curated PUT, queue
 * requests, and above all the small curated files Athena opens one GET at a
 * time. For 500 sensors at one reading a minute (`datastroom cost`): $38 a
 * month at 60 s, $28 at 300 s, $26 at 900 s (Firehose's longest). 300 s
 * takes most of the saving and keeps the lake within five minutes of the
 * sensors; the freshness alarms count the stream's incoming records, not
 * its objects, so they are not delayed. 5 MiB is Firehose's default size: a
 * stream reaches it only above 23,000 readings in five minutes, and the
 * transform handles such an object in well under a second at one vCPU and
 * 165 MB (see {@link TRANSFORM_FUNCTION}).
 */
export const DELIVERY_BUFFERING = Object.freeze({ intervalSeconds: 300, sizeMiB: 5 });

/**
 * The transform function. Lambda gives a function CPU in proportion to its
 * memory (one vCPU at 1,769 MB), so below that a CPU-bound transform takes
 * longer at the same GB-seconds, and above it one object gains nothing: the
 * objects are too small to split over threads. Measured (one thread, the
 * engine sized as the function sizes it; cost/measured-transform.json): a
 * Firehose object of 70 to 3,500 readings takes 20 to 60 ms warm and peaks
 * at 140 to 165 MB; a full 5 MiB buffer (23,000 readings) 0.3 to 0.7 s and
 * 160 MB; the worst object there is, 5 MiB of 128 KB arrays of `{}` (1.75
 * million refused readings), 20 s and 620 MB with this size's budget (415 MB
 * at 512 MB, too close to the limit for an object anyone can send). So
 * 1,024 MB: the worst object fits with room for the runtime, and the cost
 * does not decide it: for 500 sensors the function costs about $0.05 a
 * month at 512, 1,024 or 2,048 MB (before the free tier), as a CPU-bound
 * transform takes longer in proportion to a smaller share of a vCPU. One
 * object per invocation: the worst object takes about 35 s at
 * this size's 0.58 vCPU, so ten in one batch could outlast the 5-minute
 * timeout, while at 300 s buffering a batch rarely holds more than one
 * object anyway (requests cost $0.20 a million).
 */
export const TRANSFORM_FUNCTION = Object.freeze({ memoryMb: 1024, timeoutSeconds: 300, batchSize: 1 });

/** Share of the function's memory DuckDB may hold; the rest is Node's, the SDK's and the pre-pass's. */
export const DUCKDB_MEMORY_SHARE = 0.6;

/** DuckDB's memory limit in a function of this memory size. */
export function duckdbMemoryMb(functionMemoryMb: number): number {
  return Math.floor(functionMemoryMb * DUCKDB_MEMORY_SHARE);
}

/** Days the platform's own log groups (transform, delivery streams) keep their lines. */
export const LOG_RETENTION_DAYS = 365;

/**
 * The compaction function: once an hour it rewrites each settled partition
 * into one Parquet file per arrival date. 3,008 MB gives it almost two vCPUs
 * (DuckDB sorts and writes in parallel) and room to hold a day of a busy
 * dataset; 8 GiB of /tmp takes the day's files it downloads. Its time is
 * within Lambda's free tier for the fleet `datastroom cost` prices.
 */
export const COMPACTION_FUNCTION = Object.freeze({ memoryMb: 3008, timeoutSeconds: 900, ephemeralGiB: 8, runsPerHour: 1 });

/** Days the lake buckets' server access logs are kept: a year of who read and wrote what. */
export const ACCESS_LOG_RETENTION_DAYS = 365;

/**
 * The publishing function: once an hour it rewrites the open-data portal's
 * files of the days whose curated files changed (today's, mostly) and its
 * catalog. 2,048 MB gives DuckDB a vCPU's worth and room for a day of a
 * busy dataset; 2 GiB of /tmp takes a day's downloaded files and the CSV and
 * Parquet written from them.
 */
export const PUBLISHING_FUNCTION = Object.freeze({ memoryMb: 2048, timeoutSeconds: 900, ephemeralGiB: 2, runsPerHour: 1 });

/**
 * The HTTP push endpoint and its function. A push is one secret lookup (cached
 * for minutes) and one Firehose PutRecord: 256 MB and 10 s are ample. The
 * stage takes 50 requests a second on average and bursts of 100 (a city's
 * webhooks send far fewer); ten concurrent executions bound what a flood
 * costs, and the stage answers 429 beyond them.
 */
export const PUSH_ENDPOINT = Object.freeze({ memoryMb: 256, timeoutSeconds: 10, concurrency: 10, rateLimit: 50, burstLimit: 100 });
