import { describe, expect, it } from 'vitest';
import {
  basicIngestTopicFor,
  datasetTopicFilter,
  isDatasetRuleName,
  MAX_PAYLOAD_BYTES,
  messageIdFor,
  parseTopic,
  rawLine,
  splitBasicIngestTopic,
  topicFor,
  topicRuleName,
  unroutedLine,
} from '../../functions/core/envelope.ts';
import { curatedKey, parseRawKey, quarantineKey, rawKey } from '../../functions/core/keys.ts';
import { MAX_NESTING, nestsDeeperThan } from '../../functions/core/reading.ts';

const at = new Date('2026-11-29T10:00:00.123Z');

describe('topics', () => {
  it('round-trips dataset and sensor through the topic', () => {
    expect(topicFor('air_quality', 'aq-1')).toBe('datastroom/air_quality/aq-1');
    expect(parseTopic('datastroom/air_quality/aq-1')).toEqual({ datasetId: 'air_quality', sensorId: 'aq-1' });
    expect(datasetTopicFilter('noise')).toBe('datastroom/noise/+');
  });

  it('does not parse other topics or other depths', () => {
    expect(parseTopic('other/air_quality/aq-1')).toBeUndefined();
    expect(parseTopic('datastroom/air_quality')).toBeUndefined();
    expect(parseTopic('datastroom/air_quality/aq-1/extra')).toBeUndefined();
  });
});

describe('Basic Ingest topics', () => {
  it('name the dataset\'s rule before the plain topic, which is what the rule sees', () => {
    const rule = topicRuleName('prod-2', 'air_quality');
    expect(rule).toBe('datastroom_prod_2_air_quality');
    const topic = basicIngestTopicFor(rule, 'air_quality', 'aq-1');
    expect(topic).toBe('$aws/rules/datastroom_prod_2_air_quality/datastroom/air_quality/aq-1');
    expect(splitBasicIngestTopic(topic)).toEqual({ ruleName: rule, topic: 'datastroom/air_quality/aq-1' });
  });

  it('are told from other topics, and a rule name from another dataset\'s', () => {
    expect(splitBasicIngestTopic('datastroom/air_quality/aq-1')).toBeUndefined();
    expect(splitBasicIngestTopic('$aws/rules/')).toBeUndefined();
    expect(splitBasicIngestTopic('$aws/rules/bad-name/datastroom/air_quality/aq-1')).toBeUndefined();
    expect(splitBasicIngestTopic('$aws/things/aq-1/shadow/update')).toBeUndefined();
    expect(isDatasetRuleName('datastroom_dev_noise', 'noise')).toBe(true);
    expect(isDatasetRuleName('datastroom_dev_noise', 'air_quality')).toBe(false);
    expect(isDatasetRuleName('datastroom__noise', 'noise')).toBe(false);
    expect(isDatasetRuleName('other_dev_noise', 'noise')).toBe(false);
  });

  it('give a message the same id as the plain topic: the rule digests topic(), which lacks the prefix', () => {
    const payload = Buffer.from('{"ts":"2026-11-29T10:00:00Z"}');
    const basic = splitBasicIngestTopic(basicIngestTopicFor(topicRuleName('dev', 'noise'), 'noise', 'n-1'))!;
    expect(messageIdFor(basic.topic, payload)).toBe(messageIdFor(topicFor('noise', 'n-1'), payload));
  });
});

describe('message ids', () => {
  it('are the same for a redelivery of the same message', () => {
    const payload = Buffer.from('{"ts":"2026-11-29T10:00:00Z"}');
    expect(messageIdFor('datastroom/a/s', payload)).toBe(messageIdFor('datastroom/a/s', Buffer.from(payload)));
    expect(messageIdFor('datastroom/a/s', payload)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('differ by payload and by topic', () => {
    const payload = Buffer.from('{"v":1}');
    expect(messageIdFor('datastroom/a/s', payload)).not.toBe(messageIdFor('datastroom/a/s', Buffer.from('{"v":2}')));
    expect(messageIdFor('datastroom/a/s', payload)).not.toBe(messageIdFor('datastroom/a/t', payload));
  });
});

describe('raw lines', () => {
  it('embed a JSON payload as it arrived, with the envelope', () => {
    const line = JSON.parse(rawLine('s-1', 'id1', at, Buffer.from('{"ts":"x","v":1.50}')));
    expect(line).toEqual({ messageId: 'id1', sensorId: 's-1', receivedAt: '2026-11-29T10:00:00.123Z', payload: { ts: 'x', v: 1.5 } });
  });

  it('carry the route of a message an integration delivered: via and format after the arrival time, before the payload', () => {
    const text = rawLine('ttn-city', 'id1', at, Buffer.from('{"a":1}'), { via: 'http:ttn', format: 'ttn-v3' });
    expect(text).toBe('{"messageId":"id1","sensorId":"ttn-city","receivedAt":"2026-11-29T10:00:00.123Z","via":"http:ttn","format":"ttn-v3","payload":{"a":1}}');
    expect(Object.keys(JSON.parse(rawLine('s', 'i', at, Buffer.from('{}'), { format: 'datastroom' })))).toEqual(['messageId', 'sensorId', 'receivedAt', 'format', 'payload']);
  });

  it('keep a pretty-printed payload on one line', () => {
    const text = rawLine('s-1', 'id1', at, Buffer.from('{\n  "a": "b\\nc",\r\n  "n": 2\n}'));
    expect(text).not.toMatch(/[\r\n]/);
    expect(JSON.parse(text).payload).toEqual({ a: 'b\nc', n: 2 });
  });

  it('keep a payload that is not JSON, or not UTF-8, as base64', () => {
    const notJson = JSON.parse(rawLine('s', 'i', at, Buffer.from('{"pm25": 12,')));
    expect(Buffer.from(notJson.payloadBase64, 'base64').toString()).toBe('{"pm25": 12,');
    const notUtf8 = JSON.parse(rawLine('s', 'i', at, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])));
    expect([...Buffer.from(notUtf8.payloadBase64, 'base64')]).toEqual([0x7b, 0xff, 0xfe, 0x7d]);
    expect(notUtf8.payload).toBeUndefined();
  });

  it('keep JSON nesting deeper than a reading may as base64, and JSON up to that depth as JSON', () => {
    const nested = (levels: number) => `{"ts":"x","deep":${'['.repeat(levels - 1)}"[{\\"in a string\\"}]"${']'.repeat(levels - 1)}}`;
    const atLimit = JSON.parse(rawLine('s', 'i', at, Buffer.from(nested(MAX_NESTING))));
    expect(atLimit.payload.ts).toBe('x');
    expect(nestsDeeperThan(atLimit.payload, MAX_NESTING)).toBe(false);
    expect(nestsDeeperThan(JSON.parse(nested(MAX_NESTING + 1)), MAX_NESTING)).toBe(true);
    const over = JSON.parse(rawLine('s', 'i', at, Buffer.from(nested(MAX_NESTING + 1))));
    expect(over.payload).toBeUndefined();
    expect(Buffer.from(over.payloadBase64, 'base64').toString()).toBe(nested(MAX_NESTING + 1));
    // Many readings in an array nest two deep, however many there are.
    const many = JSON.parse(rawLine('s', 'i', at, Buffer.from(JSON.stringify(Array(100).fill({ v: [1] })))));
    expect(many.payload).toHaveLength(100);
  });

  it('record an oversized payload by its size and head only', () => {
    const big = Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x61);
    const line = JSON.parse(rawLine('s', 'i', at, big));
    expect(line.payloadBytes).toBe(MAX_PAYLOAD_BYTES + 1);
    expect(Buffer.from(line.payloadBase64, 'base64').length).toBe(1024);
  });

  it('keep an unrouted message whole with its topic, never parsed', () => {
    const line = JSON.parse(unroutedLine('datastroom/nope/s', 'i', at, Buffer.from('{"a":1}')));
    expect(line).toMatchObject({ topic: 'datastroom/nope/s', payloadBytes: 7, payloadBase64: Buffer.from('{"a":1}').toString('base64') });
  });
});

describe('zone keys', () => {
  const parts = { datasetId: 'air_quality', dt: '2026-11-29', name: 'air_quality-20261129T100000000Z-0a1b2c3d' };

  it('put curated and quarantine objects under the raw object’s name', () => {
    const key = rawKey(parts);
    expect(key).toBe('raw/air_quality/dt=2026-11-29/air_quality-20261129T100000000Z-0a1b2c3d.jsonl');
    expect(parseRawKey(key)).toEqual(parts);
    expect(curatedKey(parts, '2026-11-28')).toBe('curated/air_quality/dt=2026-11-28/air_quality-20261129T100000000Z-0a1b2c3d.parquet');
    expect(quarantineKey(parts)).toBe('quarantine/air_quality/dt=2026-11-29/air_quality-20261129T100000000Z-0a1b2c3d.jsonl.gz');
  });

  it('refuse keys that would escape a zone or a partition', () => {
    expect(() => parseRawKey('raw/air_quality/dt=2026-11-29/../x.jsonl')).toThrow(/not a raw object key/);
    expect(() => rawKey({ ...parts, name: '../x' })).toThrow(/invalid object name/);
    expect(() => curatedKey(parts, '2026-11-29/../x')).toThrow(/invalid date/);
  });
});

describe('raw keys of the delivery stream', () => {
  it('accept gzip objects and name the outputs without the extension', () => {
    const parts = parseRawKey('raw/noise/dt=2026-11-29/datastroom-prod-noise-1-2026-11-29-10-00-00-abc123.jsonl.gz');
    expect(parts).toEqual({ datasetId: 'noise', dt: '2026-11-29', name: 'datastroom-prod-noise-1-2026-11-29-10-00-00-abc123' });
    expect(curatedKey(parts, '2026-11-29')).toBe('curated/noise/dt=2026-11-29/datastroom-prod-noise-1-2026-11-29-10-00-00-abc123.parquet');
  });
});
