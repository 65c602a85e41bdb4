import { Duration, RemovalPolicy, Size, Validations } from 'aws-cdk-lib';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { Dataset } from '../../datasets/index.ts';
import { zonePrefix } from '../../functions/core/keys.ts';
import { placesPrefix } from '../../functions/core/places.ts';
import { PUBLISHING_ENV } from '../../functions/publish/config.ts';
import { PORTAL_DEFAULTS } from '../../publish/defaults.ts';
import { acknowledgeControl, acknowledgeObjectPrefixes } from '../governance/nag.ts';
import { tagComponent } from '../governance/tags.ts';
import { alarmNamePrefix, logGroupPrefix } from '../names.ts';
import { duckdbMemoryMb, LOG_RETENTION_DAYS, PUBLISHING_FUNCTION } from '../sizing.ts';
import { scheduleRuns } from './scheduled-run.ts';
import { duckdbBundling, platformFunctionProps } from './transform.ts';


/** The datasets anyone may read: the portal publishes these and no other. */
export function openDatasets(datasets: readonly Dataset[]): readonly Dataset[] {
  return datasets.filter((d) => d.governance.classification === 'open');
}

/** What the publishing role may read of the curated bucket: the curated files and sensors' places of open datasets. */
export function publishedPrefixes(datasets: readonly Dataset[]): string[] {
  return openDatasets(datasets).flatMap((d) => [zonePrefix('curated', d.id), placesPrefix(d.id)]);
}

/** A domain of the city's own for the portal. */
export interface PortalDomain {
  /** e.g. opendata.stad.be */
  readonly names: readonly string[];
  /** A certificate for those names, in us-east-1 (CloudFront's region for certificates). */
  readonly certificate: acm.ICertificate;
}

/** Props of {@link Publishing}. */
export interface PublishingProps {
  readonly envName: string;
  readonly datasets: readonly Dataset[];
  readonly curatedBucket: s3.IBucket;
  readonly key: kms.IKey;
  /** The lake's access-log bucket; the portal bucket logs there under portal/. */
  readonly logBucket: s3.IBucket;
  /** Where a failed run is alarmed. */
  readonly alarmTopic: sns.ITopic;
  /** @default false - the portal bucket is retained with the stack's data (and removed when the stack's first create rolls back) */
  readonly destroyData?: boolean;
  /** @default PORTAL_DEFAULTS.publisher */
  readonly publisher?: string;
  /** @default PORTAL_DEFAULTS.contactEmail */
  readonly contactEmail?: string;
  /** @default - the distribution's cloudfront.net name with CloudFront's certificate */
  readonly domain?: PortalDomain;
  /** @default - every hour (PUBLISHING_FUNCTION.runsPerHour) */
  readonly schedule?: events.Schedule;
  /** @default PUBLISHING_FUNCTION.memoryMb */
  readonly memorySizeMb?: number;
}

/**
 * The public open-data site: a portal bucket that nobody reaches but
 * CloudFront (origin access control, public access blocked, TLS only), a
 * distribution serving it over HTTPS only, and a function run every hour by
 * a schedule that writes the portal of the open datasets into it with the
 * same core as `datastroom publish`, the dashboard's page included. Its role
 * reads the curated files and places of open datasets only: shared and
 * closed prefixes are named nowhere in it. A failed run raises an alarm.
 */
export class Publishing extends Construct {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly rule: events.Rule;
  readonly alarm: cloudwatch.Alarm;
  /** Where the portal is served, ending in a slash. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: PublishingProps) {
    super(scope, id);
    tagComponent(this, 'publishing');
    const destroyData = props.destroyData ?? false;
    const memorySize = props.memorySizeMb ?? PUBLISHING_FUNCTION.memoryMb;

    // Public data, served by CloudFront: S3-managed keys, so CloudFront reads it without a grant on the lake's key.
    this.bucket = new s3.Bucket(this, 'Portal', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.logBucket,
      serverAccessLogsPrefix: 'portal/',
      lifecycleRules: [{ id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: destroyData ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      autoDeleteObjects: destroyData,
    });
    const rewritten = 'The portal holds only what the publishing function derives from the curated zone every hour';
    acknowledgeControl(this.bucket, 's3_bucket_default_encryption_kms_check', 'The portal holds open data for anyone; S3-managed keys let CloudFront\'s origin access control read it without a grant on the lake\'s key, which protects shared and closed data.');
    acknowledgeControl(this.bucket, 's3_bucket_versioning_enabled_check', `${rewritten}; a lost version is written again by the next run.`);
    acknowledgeControl(this.bucket, 's3_bucket_object_lock_enabled_check', `${rewritten}, and removes days past the dataset's retention; Object Lock would keep them.`);
    acknowledgeControl(this.bucket, 's3_event_notifications_enabled_check', 'Nothing reacts to a portal object being written: CloudFront serves it when asked.');

    const viewerCertificate = props.domain
      ? { domainNames: [...props.domain.names], certificate: props.domain.certificate, minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 }
      : {};
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `Datastroom ${props.envName}: open-data portal`,
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        compress: true,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      ...viewerCertificate,
    });
    this.url = `https://${props.domain?.names[0] ?? this.distribution.distributionDomainName}/`;
    const openData = 'The distribution serves open data to anyone';
    Validations.of(this.distribution).acknowledge(
      { id: 'AwsSolutions-CFR1', reason: `${openData}: open data is for every country; a geographic restriction would refuse reusers abroad.` },
      { id: 'AwsSolutions-CFR2', reason: `${openData} as static files over GET and HEAD only, with no forms or logins a web application firewall would protect; its web ACL would cost more than the portal.` },
      {
        id: 'AwsSolutions-CFR3',
        reason: 'CloudFront\'s standard logs need ACLs on their bucket, which the lake\'s access-log bucket refuses (bucket owner enforced); every request CloudFront forwards is in the portal bucket\'s server access logs, and what it serves is public.',
      },
      ...(props.domain
        ? []
        : [{ id: 'AwsSolutions-CFR4', reason: 'Without a domain of the city\'s own the distribution uses CloudFront\'s certificate for its cloudfront.net name, whose minimum TLS version CloudFront sets; give the construct a domain to require TLS 1.2 (TLSv1.2_2021).' }]),
    );
    acknowledgeControl(this.distribution, 'cloudfront_access_logs_enabled_check', 'CloudFront\'s standard logs need ACLs on their bucket, which the lake\'s access-log bucket refuses; the portal bucket\'s server access logs record every request CloudFront forwards.');
    acknowledgeControl(this.distribution, 'cloudfront_origin_failover_enabled_check', `${openData} from one bucket the publishing function rewrites every hour; a second origin would be a copy to keep in step.`);
    if (!props.domain) {
      const defaultCertificate = 'Without a domain of the city\'s own the distribution uses CloudFront\'s certificate for its cloudfront.net name; give the construct a domain and its certificate to serve with SNI and TLSv1.2_2021.';
      for (const control of ['cloudfront_custom_ssl_certificate_check', 'cloudfront_sni_enabled_check', 'cloudfront_security_policy_check']) acknowledgeControl(this.distribution, control, defaultCertificate);
    }

    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `${logGroupPrefix(props.envName)}publishing`,
      retention: LOG_RETENTION_DAYS,
      encryptionKey: props.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Datastroom publishing: reads the open datasets\' curated files and places, writes the open-data portal',
    });
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    const prefixes = publishedPrefixes(props.datasets);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListOpenData',
        actions: ['s3:ListBucket'],
        resources: [props.curatedBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
      }),
    );
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadOpenData', actions: ['s3:GetObject'], resources: prefixes.map((p) => props.curatedBucket.arnForObjects(`${p}*`)) }));
    acknowledgeObjectPrefixes(this.role, props.curatedBucket, prefixes, 'The publishing function reads the curated files and sensors\' places of the open datasets, exactly these prefixes.');
    // The curated bucket is encrypted with the lake's key: reading its objects takes Decrypt, nothing more.
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'DecryptOpenData', actions: ['kms:Decrypt'], resources: [props.key.keyArn] }));
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'ListPortal', actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
    this.role.addToPolicy(
      new iam.PolicyStatement({ sid: 'WritePortal', actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], resources: [this.bucket.arnForObjects('*')] }),
    );
    Validations.of(this.role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::<${this.bucket.stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*]`,
        reason: 'The publishing function owns the whole portal bucket: it writes, rewrites and removes the portal\'s files, whose names come from the data (one per dataset and day).',
      },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.' },
    );

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      ...platformFunctionProps('functions/publish/handler.ts', duckdbBundling((inputDir, outputDir) => [`node "${inputDir}/bin/build.mjs" --web "${outputDir}/web"`])),
      memorySize,
      timeout: Duration.seconds(PUBLISHING_FUNCTION.timeoutSeconds),
      ephemeralStorageSize: Size.gibibytes(PUBLISHING_FUNCTION.ephemeralGiB),
      // One run at a time: two would write the same portal files.
      reservedConcurrentExecutions: 1,
      role: this.role,
      logGroup,
      description: 'Datastroom publishing: the open-data portal of the open datasets, every hour',
      environment: {
        [PUBLISHING_ENV.curatedBucket]: props.curatedBucket.bucketName,
        [PUBLISHING_ENV.portalBucket]: this.bucket.bucketName,
        [PUBLISHING_ENV.baseUrl]: this.url,
        [PUBLISHING_ENV.publisher]: props.publisher ?? PORTAL_DEFAULTS.publisher,
        [PUBLISHING_ENV.contactEmail]: props.contactEmail ?? PORTAL_DEFAULTS.contactEmail,
        [PUBLISHING_ENV.duckdbMemoryMb]: String(duckdbMemoryMb(memorySize)),
      },
      // The dashboard's page, which the function copies into the portal with the open datasets' data.
    });
    Validations.of(this.function).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'The schedule invokes the function every hour and each run writes whatever changed since the last; a failed run raises the publishing alarm, and a queue of missed runs would add nothing.',
    });
    acknowledgeControl(
      this.function,
      'lambda_inside_vpc_check',
      'Publishing calls only AWS APIs (S3, X-Ray) over TLS with its role; in a VPC it would need an endpoint for each, or a NAT gateway, for no traffic that leaves AWS.',
    );

    ({ rule: this.rule, alarm: this.alarm } = scheduleRuns(this, this.function, {
      description: 'Publishes the open-data portal',
      runsPerHour: PUBLISHING_FUNCTION.runsPerHour,
      schedule: props.schedule,
      missedRun: 'An hourly schedule: a run that is not delivered is made up by the next one, which writes whatever changed; a dead-letter queue of missed ticks would hold nothing to act on.',
      alarmName: `${alarmNamePrefix(props.envName)}publishing-errors`,
      alarmDescription: 'Publishing failed: the open-data portal keeps what the last good run wrote (see the function\'s log)',
      alarmTopic: props.alarmTopic,
    }));
  }
}
