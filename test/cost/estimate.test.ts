import { afterEach, describe, expect, it, vi } from 'vitest';
import { registry } from '../../datasets/index.ts';
import { costCommand, withCostSection } from '../../cli/commands/cost.ts';
import { CostOptionError, estimateMonthlyCost, STACK_SIZING } from '../../cost/estimate.ts';
import { readMeasuredCompaction, readMeasuredTransform, warmMsFor, type MeasuredTransform } from '../../cost/measured.ts';
import { PRICE_TABLES } from '../../cost/prices.ts';

const measured = readMeasuredTransform();
const prices = PRICE_TABLES['eu-west-1']!.prices;
const line = (e: ReturnType<typeof estimateMonthlyCost>, service: string) => e.lines.find((l) => l.service === service)!;

describe('the cost estimate', () => {
  it('counts 500 sensors at one reading a minute: 21.6 million messages, one raw object per stream and buffer', () => {
    const e = estimateMonthlyCost({ sensors: 500 });
    expect(e.volumes.readings).toBe(21_600_000);
    expect(e.volumes.messages).toBe(21_600_000);
    expect(e.volumes.objects).toBe(registry.length * ((30 * 86_400) / STACK_SIZING.bufferingSeconds));
    expect(e.totalUsd).toBeCloseTo(e.lines.reduce((sum, l) => sum + l.usd, 0), 10);
  });

  it('charges no messaging by Basic Ingest, $1 a million through the broker, and the rules either way', () => {
    const basic = estimateMonthlyCost({ sensors: 500 });
    const broker = estimateMonthlyCost({ sensors: 500, basicIngest: false });
    expect(line(basic, 'IoT Core messaging').usd).toBe(0);
    expect(line(broker, 'IoT Core messaging').usd).toBeCloseTo(21.6, 10);
    expect(line(basic, 'IoT Core rules').usd).toBeCloseTo(21.6 * 0.3, 10);
    expect(broker.totalUsd - basic.totalUsd).toBeCloseTo(21.6, 10);
  });

  it('bills every Firehose record as 5 KB, so readings sent ten to a message cut it tenfold', () => {
    const one = estimateMonthlyCost({ sensors: 500 });
    const ten = estimateMonthlyCost({ sensors: 500, readingsPerMessage: 10 });
    expect(line(one, 'Firehose').usd).toBeCloseTo(((21_600_000 * 5_120) / 2 ** 30) * prices.firehoseIngestion.usd, 10);
    expect(ten.volumes.messages).toBe(2_160_000);
    expect(line(ten, 'Firehose').usd).toBeCloseTo(line(one, 'Firehose').usd / 10, 10);
  });

  it('takes the Lambda time per object, and compaction’s rate, from the benchmarks, not from an assumption', () => {
    const slower: MeasuredTransform = { ...measured, sizes: measured.sizes.map((s) => ({ ...s, warmMs: s.warmMs * 2, coldMs: s.coldMs * 2 })) };
    const compaction = readMeasuredCompaction();
    const fasterCompaction = { ...compaction, seconds: compaction.seconds / 2 };
    const base = estimateMonthlyCost({ sensors: 500, freeTier: false }, { measured, measuredCompaction: compaction });
    const doubled = estimateMonthlyCost({ sensors: 500, freeTier: false }, { measured: slower, measuredCompaction: compaction });
    const halved = estimateMonthlyCost({ sensors: 500, freeTier: false }, { measured, measuredCompaction: fasterCompaction });
    // Compaction at twice the rate costs half: what it saves is half of compaction's part.
    const compactionPart = 2 * (line(base, 'Lambda').usd - line(halved, 'Lambda').usd);
    expect(compactionPart).toBeGreaterThan(0);
    const requests = ((base.volumes.objects + 24 * 30) * prices.lambdaRequests.usd) / prices.lambdaRequests.per;
    const transformPart = line(base, 'Lambda').usd - requests - compactionPart;
    expect(line(doubled, 'Lambda').usd - line(base, 'Lambda').usd).toBeCloseTo(transformPart, 10);
    expect(line(base, 'Lambda').basis).toContain(`${warmMsFor(measured, base.volumes.readingsPerObject).toFixed(0)} ms per object at one vCPU`);
    expect(line(base, 'Lambda').basis).toContain(`benchmark of ${measured.measuredAt}`);
  });

  it('reads the stack sizing: a 60 s buffer means five times the objects of 300 s', () => {
    const e = estimateMonthlyCost({ sensors: 500 }, { sizing: { ...STACK_SIZING, bufferingSeconds: 60 } });
    expect(e.volumes.objects).toBe(registry.length * 43_200);
  });

  it('spreads sensors evenly unless some datasets are named', () => {
    const named = estimateMonthlyCost({ sensors: 500, sensorsPerDataset: { air_quality: 494 } });
    // 494 air-quality sensors and one for each of the six others, one reading a minute each.
    expect(named.volumes.readings).toBe(500 * 43_200);
    const registryIntervals = estimateMonthlyCost({ sensors: 7, intervalSeconds: 'registry', sensorsPerDataset: { anpr_passage: 0 } });
    expect(registryIntervals.volumes.readings).toBeGreaterThan(0);
  });

  it('prices the open-data portal from the open datasets alone, and CloudFront beyond its free allowance', () => {
    const closedOnly = estimateMonthlyCost({ sensors: 100, sensorsPerDataset: { anpr_passage: 100 } });
    const openOnly = estimateMonthlyCost({ sensors: 100, sensorsPerDataset: { air_quality: 100 } });
    expect(line(closedOnly, 'Open-data publishing').usage).toMatch(/each 0 readings of 0 open datasets .* 0 GETs .* the portal holds 0\.00 GB/);
    expect(line(openOnly, 'Open-data publishing').usd).toBeGreaterThan(line(closedOnly, 'Open-data publishing').usd);
    expect(line(estimateMonthlyCost({ portalGbPerMonth: 500 }), 'CloudFront').usd).toBe(0);
    const beyond = estimateMonthlyCost({ portalGbPerMonth: 2_024, portalRequestsPerMonth: 20_000_000, freeTier: true });
    expect(line(beyond, 'CloudFront').usd).toBeCloseTo(1_000 * prices.cloudfrontDataOut.usd + (10_000_000 * prices.cloudfrontRequests.usd) / prices.cloudfrontRequests.per, 10);
  });

  it('refuses a fleet it cannot price, naming what to change', () => {
    expect(() => estimateMonthlyCost({ sensorsPerDataset: { air_qualty: 3 } })).toThrow(CostOptionError);
    expect(() => estimateMonthlyCost({ sensorsPerDataset: { air_qualty: 3 } })).toThrow(/unknown dataset "air_qualty"/);
    expect(() => estimateMonthlyCost({ sensors: 10, sensorsPerDataset: { noise: 11 } })).toThrow(/more than --sensors 10/);
    expect(() => estimateMonthlyCost({ sensors: 0 })).toThrow(/--sensors must be a positive number/);
    expect(() => estimateMonthlyCost({ region: 'mars-1' })).toThrow(/no prices for region "mars-1"/);
  });
});

describe('datastroom cost', () => {
  const out: string[] = [];
  afterEach(() => {
    out.length = 0;
    vi.restoreAllMocks();
  });
  const run = async (args: string[]) => {
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    const code = await costCommand(args);
    return { code, text: out.join('') };
  };

  it('prints the table line by line with units, the figure each rests on, and the total', async () => {
    const { code, text } = await run(['--sensors', '500']);
    expect(code).toBe(0);
    const total = estimateMonthlyCost({ sensors: 500 }).totalUsd;
    expect(text).toMatch(/^500 sensors, 1 reading\(s\) per 60 s each/);
    expect(text).toContain('IoT Core rules');
    expect(text).toMatch(/21\.6 M rules triggered .*\$0\.15 per million rules triggered/);
    expect(text).toContain(`measured ${measured.measuredAt} on ${measured.machine}`);
    expect(text).toMatch(new RegExp(`total .*\\$${total.toFixed(2).replace('.', '\\.')}\\n`));
  });

  it('gives programs the same figures as JSON', async () => {
    const { text } = await run(['--sensors', '100', '--readings-per-message', '5', '--json']);
    const parsed = JSON.parse(text) as { totalUsd: number; volumes: { messages: number } };
    expect(parsed.volumes.messages).toBe((100 * 43_200) / 5);
    expect(parsed.totalUsd).toBeCloseTo(estimateMonthlyCost({ sensors: 100, readingsPerMessage: 5 }).totalUsd, 10);
  });

  it('refuses options it cannot use with a usage error', async () => {
    await expect(run(['--sensors', 'many'])).rejects.toThrow(/--sensors must be a number >= 0, got "many"/);
    await expect(run(['--per-dataset', 'noise'])).rejects.toThrow(/--per-dataset takes ID=N pairs/);
    await expect(run(['--per-dataset', 'nois=3'])).rejects.toThrow(/unknown dataset "nois"/);
  });

  it('writes the README section between its markers only', () => {
    const doc = '# x\n<!-- cost:start -->\nold\n<!-- cost:end -->\nafter\n';
    const updated = withCostSection(doc);
    expect(updated.startsWith('# x\n<!-- cost:start -->\n`npx datastroom cost --sensors 500`')).toBe(true);
    expect(updated.endsWith('<!-- cost:end -->\nafter\n')).toBe(true);
    expect(updated).toContain(`| **total** | | | **$${estimateMonthlyCost().totalUsd.toFixed(2)}** |`);
    expect(() => withCostSection('# no markers')).toThrow(/no <!-- cost:start -->/);
  });
});
