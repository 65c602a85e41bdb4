/**
 * AWS list prices the cost estimate uses, one table per region, each price
 * with where it comes from. Prices change: `checked` says when the table was
 * last held against AWS's pricing pages, each price says whether it was
 * confirmed then, and `datastroom cost` prints both.
 */

/** One unit price: US dollars per `per` units, with its source. */
export interface Price {
  readonly usd: number;
  /** How many units the price is for, e.g. 1,000,000 messages. */
  readonly per: number;
  /** The unit as it reads after the quantity: "messages", "GB-month", "GB-second". */
  readonly unit: string;
  /** The AWS pricing page it is listed on. */
  readonly source: string;
  /**
   * Whether the price was found on that page (or AWS's own worked example for
   * the region) on the table's `checked` day; false where it is the list
   * price as last known and still to be held against the page.
   */
  readonly confirmed: boolean;
}

/** The prices of one region, and when they were checked. */
export interface PriceTable {
  readonly region: string;
  readonly regionName: string;
  /** The day the prices were last checked against the sources (YYYY-MM-DD). */
  readonly checked: string;
  readonly prices: {
    readonly iotConnectivity: Price;
    readonly iotMessaging: Price;
    readonly iotRulesTriggered: Price;
    readonly iotActionsExecuted: Price;
    readonly firehoseIngestion: Price;
    readonly lambdaRequests: Price;
    readonly lambdaDuration: Price;
    readonly xrayTraces: Price;
    readonly s3Storage: Price;
    readonly s3Put: Price;
    readonly s3Get: Price;
    readonly sqsRequests: Price;
    readonly kmsKey: Price;
    readonly kmsRequests: Price;
    readonly secret: Price;
    readonly athenaScanned: Price;
    readonly cloudwatchMetric: Price;
    readonly cloudwatchAlarmMetric: Price;
    readonly cloudwatchCompositeAlarm: Price;
    readonly logsIngestion: Price;
    readonly logsStorage: Price;
    readonly cloudfrontDataOut: Price;
    readonly cloudfrontRequests: Price;
  };
  /** What AWS gives every account each month at no charge (the always-free tier, not the 12-month one). */
  readonly freeEachMonth: {
    readonly lambdaRequests: number;
    readonly lambdaGbSeconds: number;
    readonly xrayTraces: number;
    readonly sqsRequests: number;
    readonly kmsRequests: number;
    readonly cloudwatchMetrics: number;
    readonly cloudwatchAlarmMetrics: number;
    readonly logsGb: number;
    readonly cloudfrontGb: number;
    readonly cloudfrontRequests: number;
  };
}

const IOT = 'https://aws.amazon.com/iot-core/pricing/';
const FIREHOSE = 'https://aws.amazon.com/firehose/pricing/';
const LAMBDA = 'https://aws.amazon.com/lambda/pricing/';
const XRAY = 'https://aws.amazon.com/xray/pricing/';
const S3 = 'https://aws.amazon.com/s3/pricing/';
const SQS = 'https://aws.amazon.com/sqs/pricing/';
const KMS = 'https://aws.amazon.com/kms/pricing/';
const SECRETS = 'https://aws.amazon.com/secrets-manager/pricing/';
const ATHENA = 'https://aws.amazon.com/athena/pricing/';
const CLOUDWATCH = 'https://aws.amazon.com/cloudwatch/pricing/';
const CLOUDFRONT = 'https://aws.amazon.com/cloudfront/pricing/';

/** Europe (Ireland), where a Flemish city's platform most often runs. */
const EU_WEST_1: PriceTable = {
  region: 'eu-west-1',
  regionName: 'Europe (Ireland)',
  checked: '2026-11-29',
  prices: {
    iotConnectivity: { usd: 0.08, per: 1_000_000, unit: 'connection-minutes', source: IOT, confirmed: true },
    iotMessaging: { usd: 1.0, per: 1_000_000, unit: 'messages', source: IOT, confirmed: true },
    iotRulesTriggered: { usd: 0.15, per: 1_000_000, unit: 'rules triggered', source: IOT, confirmed: false },
    iotActionsExecuted: { usd: 0.15, per: 1_000_000, unit: 'actions executed', source: IOT, confirmed: false },
    firehoseIngestion: { usd: 0.031, per: 1, unit: 'GB ingested (records rounded up to 5 KB)', source: FIREHOSE, confirmed: false },
    lambdaRequests: { usd: 0.2, per: 1_000_000, unit: 'requests', source: LAMBDA, confirmed: false },
    lambdaDuration: { usd: 0.0000166667, per: 1, unit: 'GB-second (x86)', source: LAMBDA, confirmed: false },
    xrayTraces: { usd: 5.0, per: 1_000_000, unit: 'traces recorded', source: XRAY, confirmed: false },
    s3Storage: { usd: 0.023, per: 1, unit: 'GB-month (Standard)', source: S3, confirmed: false },
    s3Put: { usd: 0.005, per: 1_000, unit: 'PUT requests', source: S3, confirmed: false },
    s3Get: { usd: 0.0004, per: 1_000, unit: 'GET requests', source: S3, confirmed: false },
    sqsRequests: { usd: 0.4, per: 1_000_000, unit: 'requests (standard queue)', source: SQS, confirmed: false },
    kmsKey: { usd: 1.0, per: 1, unit: 'key-month', source: KMS, confirmed: false },
    kmsRequests: { usd: 0.03, per: 10_000, unit: 'requests', source: KMS, confirmed: false },
    secret: { usd: 0.4, per: 1, unit: 'secret-month', source: SECRETS, confirmed: false },
    athenaScanned: { usd: 5.0, per: 1, unit: 'TB scanned (10 MB at least per query)', source: ATHENA, confirmed: false },
    cloudwatchMetric: { usd: 0.3, per: 1, unit: 'custom metric-month', source: CLOUDWATCH, confirmed: false },
    cloudwatchAlarmMetric: { usd: 0.1, per: 1, unit: 'standard alarm metric-month', source: CLOUDWATCH, confirmed: false },
    cloudwatchCompositeAlarm: { usd: 0.5, per: 1, unit: 'composite alarm-month', source: CLOUDWATCH, confirmed: false },
    logsIngestion: { usd: 0.57, per: 1, unit: 'GB of log lines ingested', source: CLOUDWATCH, confirmed: false },
    logsStorage: { usd: 0.03, per: 1, unit: 'GB-month of logs stored', source: CLOUDWATCH, confirmed: false },
    cloudfrontDataOut: { usd: 0.085, per: 1, unit: 'GB out to the internet (Europe, first 10 TB)', source: CLOUDFRONT, confirmed: false },
    cloudfrontRequests: { usd: 0.012, per: 10_000, unit: 'HTTPS requests (Europe)', source: CLOUDFRONT, confirmed: false },
  },
  freeEachMonth: {
    lambdaRequests: 1_000_000,
    lambdaGbSeconds: 400_000,
    xrayTraces: 100_000,
    sqsRequests: 1_000_000,
    kmsRequests: 20_000,
    cloudwatchMetrics: 10,
    cloudwatchAlarmMetrics: 10,
    logsGb: 5,
    cloudfrontGb: 1_024,
    cloudfrontRequests: 10_000_000,
  },
};

/** The price tables, by region code. */
export const PRICE_TABLES: Readonly<Record<string, PriceTable>> = Object.freeze({ [EU_WEST_1.region]: EU_WEST_1 });

/** The region the estimate prices unless told otherwise. */
export const DEFAULT_REGION = EU_WEST_1.region;
