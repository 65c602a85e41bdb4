import { describe, expect, it } from 'vitest';
import * as sqs from 'aws-cdk-lib/aws-sqs';
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
