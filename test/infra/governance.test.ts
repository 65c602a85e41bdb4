import { describe, expect, it } from 'vitest';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { rawPrefixes } from '../../infra/constructs/lake-storage.ts';
import { getDataset, registry, type Dataset } from '../../datasets/index.ts';
import { CONFIG_DEFAULTS, ConfigError, readConfig } from '../../infra/config.ts';
import { DatastroomStack } from '../../infra/stacks/datastroom-stack.ts';
import { testApp } from '../helpers/stack.ts';

const synth = (datasets: readonly Dataset[]) => {
  const app = testApp();
  new DatastroomStack(app, 'Test', { datasets });
  return () => app.synth();
};

describe('the synth-time governance check', () => {
  it('fails synth for a dataset without an owner, naming it', () => {
    const air = getDataset('air_quality');
    const ownerless = { ...air, id: 'ownerless_air', governance: { ...air.governance, owner: '' } };
    expect(synth([...registry, ownerless])).toThrow(/dataset "ownerless_air": governance\.owner is missing/);
  });

  it('fails synth for a dataset without retention, naming it', () => {
    const noise = getDataset('noise');
    const forever = { ...noise, id: 'forever_noise', retention: undefined } as unknown as Dataset;
    expect(synth([forever])).toThrow(/dataset "forever_noise": retention\.rawDays must be a positive whole number of days/);
  });

  it('fails synth for a resource without the platform’s tags, naming the construct', () => {
    const app = testApp();
    const stack = new DatastroomStack(app, 'Test');
    new sqs.Queue(stack, 'StrayQueue', { enforceSSL: true });
    expect(() => app.synth()).toThrow(/Test\/StrayQueue\/Resource lacks governance tags: datastroom:component/);
  });

  /** The platform with the raw bucket's lifecycle replaced: a noncurrent rule for all, and one rule per dataset prefix. */
  const withRawRules = (noncurrentDays: number, rule: (d: Dataset) => { expirationInDays: number; noncurrentVersionExpiration?: { noncurrentDays: number } }) => {
    const app = testApp();
    const stack = new DatastroomStack(app, 'Test');
    const raw = stack.storage.rawBucket.node.defaultChild as s3.CfnBucket;
    raw.lifecycleConfiguration = {
      rules: [
        { status: 'Enabled', noncurrentVersionExpiration: { noncurrentDays } },
        ...registry.flatMap((d) => Object.values(rawPrefixes(d.id)).map((prefix) => ({ status: 'Enabled', prefix, ...rule(d) }))),
      ],
    };
    return () => app.synth();
  };

  it('fails synth when a noncurrent version keeps a dataset’s raw messages beyond its retention, naming it', () => {
    // Expiry at the retention, as a bucket without versioning would have it: the old version outlives it by 7 days.
    const synthesize = withRawRules(7, (d) => ({ expirationInDays: d.retention.rawDays }));
    expect(synthesize).toThrow(
      /dataset "air_quality": raw objects \(raw\/air_quality\/\) must be gone after 90 days, in every version; the lifecycle keeps them 97 days \(90 current \+ 7 noncurrent\)/,
    );
    expect(synthesize).toThrow(/dataset "air_quality": failed records \(raw-errors\/rules\/air_quality\/\) must be gone within the raw retention of 90 days/);
    expect(synthesize).toThrow(/dataset "anpr_passage": clear-text plate under raw\/anpr_passage\/ must be gone within 7 days in every version; the lifecycle keeps them up to 16 days/);
  });

  it('fails synth when S3’s rounding to midnight lets a clear-text version of personal data outlive its raw retention', () => {
    // Expiry a day before the retention and the noncurrent version a day later: 7 days by the rules' counts,
    // but S3 rounds both steps up to the next midnight UTC, so a plate could stay up to 9 days.
    const synthesize = withRawRules(7, (d) => ({ expirationInDays: d.retention.rawDays - 1, noncurrentVersionExpiration: { noncurrentDays: 1 } }));
    for (const prefix of Object.values(rawPrefixes('anpr_passage'))) {
      const escaped = prefix.replace(/[/]/g, '\\/');
      expect(synthesize).toThrow(
        new RegExp(
          `dataset "anpr_passage": clear-text plate under ${escaped} must be gone within 7 days in every version; the lifecycle keeps them up to 9 days \\(7 days \\(6 current \\+ 1 noncurrent\\), and up to 2 more as S3 rounds each step up to the next midnight UTC\\)`,
        ),
      );
    }
    // Data without personal fields keeps the rules' day counts: 89 + 1 is air quality's 90.
    expect(synthesize).not.toThrow(/dataset "air_quality"/);
  });

  it('fails synth for a dataset with personal data whose raw retention is too short to round within, naming it', () => {
    const anpr = getDataset('anpr_passage');
    const brief = { ...anpr, id: 'brief_anpr', retention: { ...anpr.retention, rawDays: 3 } };
    expect(synth([...registry, brief])).toThrow(/dataset "brief_anpr": clear-text plate under raw\/brief_anpr\/ must be gone within 3 days in every version; the lifecycle keeps them forever/);
  });

  it('passes for the registry as it is', () => {
    expect(synth(registry)).not.toThrow();
  });
});

describe('deployment settings', () => {
  it('come from context with documented defaults', () => {
    expect(readConfig(testApp().node)).toEqual(CONFIG_DEFAULTS);
    expect(readConfig(testApp({ envName: 'prod', destroyData: 'true', bytesScannedCutoffMb: '512' }).node)).toMatchObject({
      envName: 'prod',
      destroyData: true,
      bytesScannedCutoffMb: 512,
    });
  });

  it.each([
    [{ envName: 'Prod!' }, /context "envName"/],
    [{ bytesScannedCutoffMb: 0 }, /context "bytesScannedCutoffMb": must be a positive number/],
    [{ destroyData: 'yes' }, /context "destroyData": must be true or false/],
    [{ quarantineRateThreshold: 5 }, /context "quarantineRateThreshold": is a share/],
  ])('refuse %j', (context, message) => {
    expect(() => readConfig(testApp(context).node)).toThrow(ConfigError);
    expect(() => readConfig(testApp(context).node)).toThrow(message);
  });
});
