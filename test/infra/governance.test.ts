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

  it('fails synth when a noncurrent version keeps a dataset’s raw messages beyond its retention, naming it', () => {
    const app = testApp();
    const stack = new DatastroomStack(app, 'Test');
    const raw = stack.storage.rawBucket.node.defaultChild as s3.CfnBucket;
    // Expiry at the retention, as a bucket without versioning would have it: the clear-text version outlives it by 7 days.
    raw.lifecycleConfiguration = {
      rules: [
        { status: 'Enabled', noncurrentVersionExpiration: { noncurrentDays: 7 } },
        ...registry.flatMap((d) =>
          Object.values(rawPrefixes(d.id)).map((prefix) => ({ status: 'Enabled', prefix, expirationInDays: d.retention.rawDays })),
        ),
      ],
    };
    expect(() => app.synth()).toThrow(
      /dataset "anpr_passage": raw objects \(raw\/anpr_passage\/\) must be gone after 7 days, in every version; the lifecycle keeps them 14 days \(7 current \+ 7 noncurrent\)/,
    );
    expect(() => app.synth()).toThrow(/dataset "anpr_passage": failed records \(raw-errors\/rules\/anpr_passage\/\) must be gone within the raw retention of 7 days/);
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
