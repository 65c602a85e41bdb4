/**
 * What a connection may cost the embedded broker before it has proved
 * anything, tried with raw TCP sockets as an attacker would: a CONNECT that
 * announces a huge packet is cut off at its first bytes, one that never ends
 * is dropped after the connect timeout, the connections waiting to
 * authenticate and their bytes are capped across the broker however many
 * there are, and the broker keeps neither retained messages nor sessions.
 */
import { readFile } from 'node:fs/promises';
import { connect as tcpConnect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES } from '../../functions/core/envelope.ts';
import { BROKER_LIMITS, PacketFrames } from '../../local/broker.ts';
import { dataDirLayout } from '../../local/data-dir.ts';
import { DeviceRegistry } from '../../local/devices.ts';
import { brusselsIso } from '../../local/readings.ts';
import { startLocalPlatform, type LocalPlatform } from '../../local/runtime.ts';
import type { RunSummary } from '../../local/stats.ts';
import { startDev, until } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/fixtures.ts';

/** MQTT's variable-length encoding of a remaining length. */
function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

const CONNECT = 0x10;
const MQTT_MAX_REMAINING_LENGTH = 268_435_455;
const MiB = 1024 * 1024;

interface Attempt {
  /** Bytes the socket accepted before it closed. */
  readonly sent: number;
  /** Whether the broker closed it (rather than the attacker running out of bytes to send). */
  readonly closedByBroker: boolean;
}

function opened(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Announces a CONNECT of the largest size MQTT allows and streams zeros into it, up to `budget` bytes. */
async function hugeConnect(port: number, budget: number): Promise<Attempt> {
  const socket = await opened(port);
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  let closed = false;
  const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => (closed = true));
  socket.once('close', () => (closed = true));
  const write = (bytes: Buffer) =>
    new Promise<boolean>((resolve) => {
      if (closed) return resolve(false);
      socket.write(bytes, (error) => resolve(!error));
    });
  if (await write(Buffer.concat([Buffer.from([CONNECT]), remainingLength(MQTT_MAX_REMAINING_LENGTH)]))) {
    while (sent < budget && (await write(chunk))) sent += chunk.length;
  }
  const closedByBroker = sent < budget;
  socket.destroy();
  await gone;
  return { sent, closedByBroker };
}

/** Opens a connection that sends `bytes` and then nothing; resolves when the broker closes it. */
async function stalled(port: number, bytes: Buffer): Promise<'closed'> {
  const socket = await opened(port);
  socket.on('error', () => undefined);
  const gone = new Promise<'closed'>((resolve) => socket.once('close', () => resolve('closed')));
  socket.resume();
  if (bytes.length > 0) socket.write(bytes);
  return gone;
}

describe('the packet framing guard', () => {
  it('follows packets split anywhere and names the first one over the limit', () => {
    const frames = new PacketFrames(300);
    const stream = Buffer.concat([
      Buffer.from([0x30]), remainingLength(200), Buffer.alloc(200),
      Buffer.from([0xc0, 0x00]),
      Buffer.from([0x30]), remainingLength(300), Buffer.alloc(300),
      Buffer.from([0x30]), remainingLength(301),
    ]);
    const problems = [...stream].map((byte) => frames.feed(Buffer.from([byte]))).filter((p) => p !== undefined);
    expect(problems).toEqual(['a packet of 301 bytes, over the limit of 300']);
    expect(new PacketFrames(300).feed(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff]))).toBe('a packet length longer than four bytes');
  });

  it('lets a whole 128 KB payload through with the longest topic', () => {
    expect(BROKER_LIMITS.maxPacketBytes).toBe(MAX_PAYLOAD_BYTES + 2 + 65_535 + 2);
  });
});

describe('connections that never finish CONNECT', () => {
  let platform: LocalPlatform;
  let password: string;
  let summary: RunSummary | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    const dataDir = await tempDir('datastroom-limits-', 'file');
    ({ password } = await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-limits'));
    platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, buffering: { maxAgeMs: 200 }, log: (line) => lines.push(line) });
  });

  afterAll(async () => {
    summary ??= await platform.stop();
  });

  it('closes 8 connections announcing a 256 MB CONNECT at once, and the broker keeps none of their bytes', async () => {
    const budget = 64 * MiB;
    const before = process.memoryUsage().arrayBuffers;
    const attempts = await Promise.all(Array.from({ length: 8 }, () => hugeConnect(platform.port, budget)));
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(attempts.filter((a) => a.closedByBroker)).toHaveLength(8);
    // Loopback socket buffers take a few MB before the reset arrives; the broker buffered nothing.
    expect(Math.max(...attempts.map((a) => a.sent))).toBeLessThan(budget / 4);
    expect(grown).toBeLessThan(budget / 2);
    expect(lines.filter((l) => l === `closed connection from 127.0.0.1: a packet of ${MQTT_MAX_REMAINING_LENGTH} bytes, over the limit of ${BROKER_LIMITS.maxPacketBytes}`)).toHaveLength(8);
  });

  it('drops 8 connections that send part of a CONNECT and 8 that send nothing, after the connect timeout', async () => {
    const partial = Buffer.concat([Buffer.from([CONNECT]), remainingLength(100), Buffer.from('\u0000\u0004MQTT')]);
    const outcomes = await Promise.all([
      ...Array.from({ length: 8 }, () => stalled(platform.port, partial)),
      ...Array.from({ length: 8 }, () => stalled(platform.port, Buffer.alloc(0))),
    ]);
    expect(outcomes).toEqual(Array.from({ length: 16 }, () => 'closed'));
  });

  it('closes a device’s connection on a publish over the limit, and still takes a large one within it', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, {
      clientId: 'aq-limits',
      username: 'aq-limits',
      password,
      reconnectPeriod: 0,
    });
    const topic = 'datastroom/air_quality/aq-limits';
    // Over 128 KB but within the packet limit: kept, and quarantined for its size.
    await client.publishAsync(topic, JSON.stringify({ ts: brusselsIso(new Date()), pm25: 1, pm10: 2, no2: 3, note: 'x'.repeat(MAX_PAYLOAD_BYTES) }), { qos: 1 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(topic, Buffer.alloc(BROKER_LIMITS.maxPacketBytes), { qos: 1 });
    await closed;
    client.end(true);
    summary = await platform.stop();
    expect(summary.datasets.air_quality).toEqual({ received: 1, duplicates: 0, curated: 0, quarantined: 1 });
    expect(lines.filter((l) => /^closed connection from 127\.0\.0\.1: a packet of \d+ bytes, over the limit/.test(l))).toHaveLength(9);
  });
});

/** A socket the test opened, and whether the broker closed it. */
interface Held {
  readonly socket: Socket;
  closedByBroker: boolean;
}

/** Opens a connection that sends `bytes` and then waits; notes when the broker closes it. */
async function hold(port: number, bytes: Buffer): Promise<Held> {
  const socket = await opened(port);
  const held: Held = { socket, closedByBroker: false };
  socket.on('error', () => undefined);
  socket.once('close', () => (held.closedByBroker = true));
  socket.resume();
  if (bytes.length > 0) socket.write(bytes);
  return held;
}

/** The first `length` bytes of a CONNECT that announces `announced` bytes after its fixed header. */
function partialConnect(announced: number, length: number): Buffer {
  const header = Buffer.concat([Buffer.from([CONNECT]), remainingLength(announced)]);
  return Buffer.concat([header, Buffer.alloc(length - header.length, 0x41)]);
}

/** A process's peak resident memory so far, in bytes (VmHWM). */
async function peakResident(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
}

describe('connections waiting to authenticate, across the broker', () => {
  it('are closed oldest first beyond their number, and a device connecting meanwhile gets in', async () => {
    const dataDir = await tempDir();
    const { password } = await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-waits');
    const lines: string[] = [];
    const platform = await startLocalPlatform({
      dataDir,
      port: 0,
      simulate: false,
      log: (line) => lines.push(line),
      // A safety net far beyond the test: only the number limit closes connections here.
      brokerLimits: { maxUnauthenticated: 8, connectTimeoutMs: 300_000 },
    });
    const waiting = () => platform.broker.unauthenticated();
    const held: Held[] = [];
    for (let i = 0; i < 12; i++) {
      held.push(await hold(platform.port, Buffer.alloc(0)));
      await until(() => waiting().connections + waiting().closed === i + 1, `the broker to count connection ${i + 1}`);
    }
    await until(() => held.filter((h) => h.closedByBroker).length === 4, 'the four oldest to be closed');
    expect(held.map((h) => h.closedByBroker)).toEqual([true, true, true, true, false, false, false, false, false, false, false, false]);

    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'aq-waits', username: 'aq-waits', password, reconnectPeriod: 0 });
    await device.publishAsync('datastroom/air_quality/aq-waits', JSON.stringify({ ts: brusselsIso(new Date()), pm25: 1, pm10: 2, no2: 3 }), { qos: 1 });
    await device.endAsync();
    await until(() => held[4]!.closedByBroker, 'the oldest waiting connection to make room for the device');
    expect(held.filter((h) => h.closedByBroker)).toHaveLength(5);
    expect(waiting()).toMatchObject({ connections: 7, bytes: 0, peakConnections: 8, closed: 5 });
    for (const h of held) h.socket.destroy();
    const summary = await platform.stop();
    expect(summary.datasets.air_quality).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });
    expect(lines.filter((l) => l.startsWith('closed connection from 127.0.0.1 before it authenticated: 8 connections were waiting to authenticate, the limit'))).toHaveLength(1);
  });

  it('hold no more bytes than the limit: the connection that sent the most is closed, and a device still gets in', async () => {
    const dataDir = await tempDir();
    const { password } = await DeviceRegistry.of(dataDirLayout(dataDir)).register('air_quality', 'aq-bytes');
    const lines: string[] = [];
    const LIMIT = 1_000_000;
    const PART = 150_000;
    const platform = await startLocalPlatform({
      dataDir,
      port: 0,
      simulate: false,
      log: (line) => lines.push(line),
      brokerLimits: { maxUnauthenticatedBytes: LIMIT, connectTimeoutMs: 300_000 },
    });
    const waiting = () => platform.broker.unauthenticated();
    const held: Held[] = [];
    // Twenty unfinished CONNECTs of 150,000 bytes each (of the 160,000 they announce), one after another.
    for (let i = 0; i < 20; i++) {
      held.push(await hold(platform.port, partialConnect(160_000, PART)));
      await until(
        () => waiting().connections + waiting().closed === i + 1 && waiting().bytes === waiting().connections * PART,
        `the broker to take the bytes of connection ${i + 1}`,
      );
    }
    const kept = Math.floor(LIMIT / PART);
    await until(() => held.filter((h) => h.closedByBroker).length === 20 - kept, 'the broker to close the connections over the limit');
    expect(held.map((h) => h.closedByBroker)).toEqual(Array.from({ length: 20 }, (_, i) => i < 20 - kept));
    expect(waiting()).toMatchObject({ connections: kept, bytes: kept * PART, closed: 20 - kept });
    expect(waiting().peakBytes).toBeLessThanOrEqual(LIMIT);

    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${platform.port}`, { clientId: 'aq-bytes', username: 'aq-bytes', password, reconnectPeriod: 0 });
    await device.publishAsync('datastroom/air_quality/aq-bytes', JSON.stringify({ ts: brusselsIso(new Date()), pm25: 1, pm10: 2, no2: 3 }), { qos: 1 });
    await device.endAsync();
    for (const h of held) h.socket.destroy();
    const summary = await platform.stop();
    expect(summary.datasets.air_quality).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });
    expect(lines.filter((l) => l.startsWith('closed connection from 127.0.0.1 before it authenticated: connections waiting to authenticate had sent'))).toHaveLength(1);
  });

  it('keep a `datastroom dev` within its memory whatever their number: 3,000 unfinished CONNECTs of 189,000 bytes', async () => {
    const dev = await startDev(await tempDir());
    const sockets: Held[] = [];
    try {
      const before = await peakResident(dev.pid);
      const part = partialConnect(190_000, 189_000);
      const TOTAL = 3_000;
      for (let i = 0; i < TOTAL; i += 100) {
        sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => hold(dev.port, part)))));
      }
      // Without the cap every one of them holds its bytes until the connect timeout.
      await until(() => sockets.filter((h) => !h.closedByBroker).length <= BROKER_LIMITS.maxUnauthenticated, 'the broker to close all but the newest', () => dev.gone());
      const grown = (await peakResident(dev.pid)) - before;
      // 3,000 x 189,000 bytes is 567 MB; the cap keeps at most 256 of them (48 MB).
      expect(grown).toBeLessThan(256 * MiB);
    } finally {
      for (const h of sockets) h.socket.destroy();
      dev.interrupt();
      await dev.exited;
    }
    expect(dev.stderr().match(/closed connection from 127\.0\.0\.1 before it authenticated: 256 connections were waiting to authenticate/g)?.length ?? 0).toBeGreaterThan(0);
  });
});

describe('what the broker keeps for clients', () => {
  it('keeps no retained message and no session, with authentication off', async () => {
    const dataDir = await tempDir();
    const platform = await startLocalPlatform({ dataDir, port: 0, simulate: false, buffering: { maxAgeMs: 200 }, log: () => undefined });
    const url = `mqtt://127.0.0.1:${platform.port}`;
    // A persistent session subscribed to everything, then away.
    const sleeper = await mqtt.connectAsync(url, { clientId: 'sleeper', clean: false, reconnectPeriod: 0 });
    await sleeper.subscribeAsync('#', { qos: 1 });
    await sleeper.endAsync();

    const publisher = await mqtt.connectAsync(url, { clientId: 'retainer', reconnectPeriod: 0 });
    for (let i = 0; i < 20; i++) await publisher.publishAsync(`junk/${i}`, Buffer.alloc(1024, 0x61), { qos: 1, retain: true });
    const reading = JSON.stringify({ ts: brusselsIso(new Date()), pm25: 1, pm10: 2, no2: 3 });
    await publisher.publishAsync('datastroom/air_quality/aq-retain', reading, { qos: 1, retain: true });

    /**
     * Connects and subscribes to everything: what it receives up to a marker
     * published after, from its first packet on, and whether a session was kept.
     */
    const receivedOnConnect = async (clientId: string, marker: string) => {
      const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0 });
      const topics: string[] = [];
      const seen = new Promise<void>((resolve) =>
        client.on('message', (topic) => {
          topics.push(topic);
          if (topic === marker) resolve();
        }),
      );
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      await client.subscribeAsync('#', { qos: 1 });
      await publisher.publishAsync(marker, 'marker', { qos: 1 });
      await seen;
      await client.endAsync();
      return { sessionPresent: connack.sessionPresent, topics };
    };
    // Neither the messages published while it was away, nor its subscription, were kept.
    const back = await receivedOnConnect('sleeper', 'marker/1');
    const newcomer = await receivedOnConnect('newcomer', 'marker/2');
    await publisher.endAsync();
    const summary = await platform.stop();

    expect(back).toEqual({ sessionPresent: false, topics: ['marker/1'] });
    expect(newcomer).toEqual({ sessionPresent: false, topics: ['marker/2'] });
    // The retain flag is dropped, the reading is not.
    expect(summary.datasets.air_quality).toEqual({ received: 1, duplicates: 0, curated: 1, quarantined: 0 });
  });
});
