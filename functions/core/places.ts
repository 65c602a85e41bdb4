/**
 * Where each sensor stands. A place is one small JSON object per sensor in
 * the curated zone, `curated/_places/<dataset>/<sensorId>.json`, written when
 * a sensor is registered (and by the demo fleet): the locked-down local query
 * and Athena read the same objects, as the `sensors` table, and a sensor's
 * place lives under its dataset's name, so whoever may read a dataset's
 * places is decided by the same prefix rules as its data.
 */
import { z } from 'zod';
import { sensorIdProblem } from './reading.ts';

/** Where places live, in the curated zone (and the curated bucket). */
export const PLACES_PREFIX = 'curated/_places/';

/** The name under which places are queried: a table on Athena, a view locally. */
export const PLACES_TABLE = 'sensors';

/** Longest name or address kept (IoT thing attribute values hold 800 characters, escaped). */
const TEXT_MAX = 200;

/** A sensor's place as stored: one JSON object per sensor, snake_case as every column. */
export const SensorPlace = z.object({
  sensor_id: z.string().min(1),
  dataset: z.string().regex(/^[a-z][a-z0-9_]*$/),
  latitude: z.number().min(-90).max(90),
  longitude: z.number().min(-180).max(180),
  name: z.string().max(TEXT_MAX).optional(),
  address: z.string().max(TEXT_MAX).optional(),
  /** When the place was recorded, ISO 8601 UTC. */
  registered_at: z.string(),
});
export type SensorPlace = z.infer<typeof SensorPlace>;

/** A place the platform cannot store; the message says which part and why. */
export class PlaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlaceError';
  }
}

/** The key of a sensor's place. */
export function placeKey(datasetId: string, sensorId: string): string {
  const problem = sensorIdProblem(sensorId);
  if (problem) throw new PlaceError(problem);
  return `${PLACES_PREFIX}${datasetId}/${sensorId}.json`;
}

/** The prefix of a dataset's places. */
export function placesPrefix(datasetId: string): string {
  return `${PLACES_PREFIX}${datasetId}/`;
}

/** What a user gives on the command line: coordinates as text, name and address optional. */
export interface PlaceInput {
  readonly latitude?: string;
  readonly longitude?: string;
  readonly name?: string;
  readonly address?: string;
}

function coordinate(what: 'latitude' | 'longitude', text: string, limit: number): number {
  const value = Number(text.trim().replace(/^\+/, ''));
  if (text.trim() === '' || !Number.isFinite(value) || Math.abs(value) > limit || !/^[+-]?\d+(\.\d+)?$/.test(text.trim())) {
    throw new PlaceError(`${what} must be decimal degrees from -${limit} to ${limit} with a point (WGS 84, e.g. ${what === 'latitude' ? '51.0543' : '3.7174'}), got ${JSON.stringify(text)}`);
  }
  return value;
}

/**
 * A place from what a user typed, or undefined when none was given. Both
 * coordinates or neither; a name or address needs coordinates.
 */
export function placeFromInput(datasetId: string, sensorId: string, input: PlaceInput, now: Date = new Date()): SensorPlace | undefined {
  const { latitude, longitude, name, address } = input;
  if (latitude === undefined && longitude === undefined) {
    if (name !== undefined || address !== undefined) throw new PlaceError('a place name or address needs --lat and --lon too');
    return undefined;
  }
  if (latitude === undefined || longitude === undefined) throw new PlaceError('give both --lat and --lon (decimal degrees, WGS 84)');
  for (const [what, text] of [['name', name], ['address', address]] as const) {
    if (text !== undefined && (text.trim() === '' || text.length > TEXT_MAX)) throw new PlaceError(`the place ${what} must be 1 to ${TEXT_MAX} characters`);
  }
  placeKey(datasetId, sensorId);
  return {
    sensor_id: sensorId,
    dataset: datasetId,
    latitude: coordinate('latitude', latitude, 90),
    longitude: coordinate('longitude', longitude, 180),
    ...(name === undefined ? {} : { name: name.trim() }),
    ...(address === undefined ? {} : { address: address.trim() }),
    registered_at: now.toISOString(),
  };
}

/** A place as the object's text: one JSON line. */
export function placeText(place: SensorPlace): string {
  return `${JSON.stringify(SensorPlace.parse(place))}\n`;
}

/** A place object's text, parsed; throws {@link PlaceError} naming the key for anything else. */
export function parsePlace(key: string, text: string): SensorPlace {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PlaceError(`${key} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = SensorPlace.safeParse(json);
  if (!parsed.success) throw new PlaceError(`${key} is not a place: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  return parsed.data;
}

// IoT Core takes attribute values of [a-zA-Z0-9_.,@/:#=\[\]-]* only: no spaces, no accents.
const ATTRIBUTE_SAFE = /[A-Za-z0-9_.,@/:=[\]-]/;

/** Text as an IoT thing attribute value: every other character as #XX per UTF-8 byte ("Sint-Baafsplein 1" is "Sint-Baafsplein#201"). */
export function encodeAttribute(text: string): string {
  let out = '';
  for (const char of text) {
    if (ATTRIBUTE_SAFE.test(char)) out += char;
    else for (const byte of Buffer.from(char, 'utf8')) out += `#${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** An attribute value written by {@link encodeAttribute}, as the text it was. */
export function decodeAttribute(value: string): string {
  const escaped = value.replace(/#([0-9A-F]{2})|([^#]+)/g, (_m, hex: string | undefined, plain: string | undefined) => (hex ? `%${hex}` : encodeURIComponent(plain ?? '')));
  try {
    return decodeURIComponent(escaped);
  } catch {
    return value;
  }
}

/** A place as IoT thing attributes (a thing of a type holds up to 50). */
export function placeAttributes(place: SensorPlace): Record<string, string> {
  return {
    latitude: String(place.latitude),
    longitude: String(place.longitude),
    ...(place.name === undefined ? {} : { place_name: encodeAttribute(place.name) }),
    ...(place.address === undefined ? {} : { address: encodeAttribute(place.address) }),
  };
}
