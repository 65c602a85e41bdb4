/**
 * The transform's measured time and memory per Firehose object, as the
 * benchmark (bench/firehose.ts) last wrote them, with the date and machine.
 * The cost estimate takes the Lambda time per object from here, never from
 * an assumption.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
// Imported, not read from disk at run time, so the compiled CLI carries the figures with it.
import checkedIn from './measured-transform.json' with { type: 'json' };
import checkedInCompaction from './measured-compaction.json' with { type: 'json' };

/** Where the benchmark writes its figures, checked in with the code they measure. */
export const MEASURED_TRANSFORM_FILE = resolve(import.meta.dirname, 'measured-transform.json');

/** The benchmark's figures for one object size. */
const MeasuredSize = z.object({
  /** Readings in the object. */
  readings: z.number().int().positive(),
  /** The object's size as Firehose writes it (gzip). */
  gzipBytes: z.number().int().positive(),
  /** The curated Parquet the transform wrote for it. */
  curatedBytes: z.number().int().positive(),
  /** Mean bytes of one reading's payload as the sensor sent it. */
  payloadBytes: z.number().int().positive(),
  /** Median milliseconds of a warm transform (engine already open), on the machine below. */
  warmMs: z.number().positive(),
  /** Milliseconds of the first transform including opening the engine. */
  coldMs: z.number().positive(),
  /** Peak resident memory of the process, MB. */
  peakRssMb: z.number().positive(),
  /** Whether the object went through the SQL fast path without the JavaScript pre-pass. */
  fastPath: z.boolean(),
});

/** What the benchmark measured. */
export const MeasuredTransform = z.object({
  /** The day it was measured (YYYY-MM-DD). */
  measuredAt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  /** The machine it was measured on: cores, CPU model, memory, Node version. */
  machine: z.string().min(1),
  /** The function memory size the engine was sized for. */
  functionMemoryMb: z.number().int().positive(),
  sizes: z.array(MeasuredSize).min(2),
  /** The largest object the delivery buffer lets through. */
  fullBuffer: z.object({ readings: z.number().int().positive(), warmMs: z.number().positive(), peakRssMb: z.number().positive() }),
});
export type MeasuredTransform = z.infer<typeof MeasuredTransform>;

/** The figures checked into the repository, or those of another file; fails naming it if they are missing or malformed. */
export function readMeasuredTransform(file?: string): MeasuredTransform {
  if (file === undefined) {
    const parsed = MeasuredTransform.safeParse(checkedIn);
    if (!parsed.success) throw new Error(`${MEASURED_TRANSFORM_FILE}: not the benchmark's figures: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
    return parsed.data;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${file}: no benchmark figures (run node --import tsx bench/firehose.ts): ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = MeasuredTransform.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${file}: not the benchmark's figures: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
  return parsed.data;
}

/**
 * Warm milliseconds for an object of any size, interpolated linearly between
 * the measured sizes (and extrapolated from the two nearest beyond them).
 */
export function warmMsFor(measured: MeasuredTransform, readings: number): number {
  const sizes = [...measured.sizes].sort((a, b) => a.readings - b.readings);
  let i = 0;
  while (i < sizes.length - 2 && readings > (sizes[i + 1] as (typeof sizes)[number]).readings) i++;
  const a = sizes[i] as (typeof sizes)[number];
  const b = sizes[i + 1] as (typeof sizes)[number];
  const ms = a.warmMs + ((b.warmMs - a.warmMs) * (readings - a.readings)) / (b.readings - a.readings);
  return Math.max(ms, Math.min(a.warmMs, b.warmMs) / 2);
}

/** Where the lake benchmark writes its compaction figure, checked in with the code it measures. */
export const MEASURED_COMPACTION_FILE = resolve(import.meta.dirname, 'measured-compaction.json');

/** What the lake benchmark measured of compaction: readings rewritten per second. */
export const MeasuredCompaction = z.object({
  measuredAt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  machine: z.string().min(1),
  /** Readings the benchmark compacted, and the files they were in. */
  readings: z.number().int().positive(),
  files: z.number().int().positive(),
  seconds: z.number().positive(),
});
export type MeasuredCompaction = z.infer<typeof MeasuredCompaction>;

/** The compaction figure checked into the repository. */
export function readMeasuredCompaction(): MeasuredCompaction {
  const parsed = MeasuredCompaction.safeParse(checkedInCompaction);
  if (!parsed.success) throw new Error(`${MEASURED_COMPACTION_FILE}: not the benchmark's figures: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
  return parsed.data;
}
