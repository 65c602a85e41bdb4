/**
 * TrafficFlowObserved counts one lane or one vehicle type per entity: its
 * `intensity` goes to the field its `vehicleType` names, and the counting
 * interval is the span from `dateObservedFrom` to `dateObservedTo` (or of a
 * `dateObserved` interval). That choice and that arithmetic are what a
 * declaration cannot say.
 */
import type { FormatDeclaration } from './define.ts';
import { attributeValue } from './fiware.ts';

/** Vehicle types of the Smart Data Model, by the traffic_count field that counts them. */
const BY_VEHICLE_TYPE: Readonly<Record<string, string>> = {
  car: 'cars',
  bicycle: 'bikes',
  lorry: 'heavy_vehicles',
  bus: 'heavy_vehicles',
  truck: 'heavy_vehicles',
  trailer: 'heavy_vehicles',
};

/** Seconds between two ISO times (both without zone, or both with one); undefined where either is not a time. */
function secondsBetween(from: unknown, to: unknown): number | undefined {
  if (typeof from !== 'string' || typeof to !== 'string') return undefined;
  const withZone = (t: string) => (/(Z|[+-]\d{2}:?\d{2})$/i.test(t) ? t : `${t}Z`);
  const span = (Date.parse(withZone(to)) - Date.parse(withZone(from))) / 1000;
  return Number.isFinite(span) ? span : undefined;
}

/** The interval and the count of a TrafficFlowObserved entity, or why there are none. */
export const trafficFlowCounts: NonNullable<FormatDeclaration['compute']> = (entity) => {
  const interval = attributeValue(entity, 'dateObserved');
  const [start, end] = typeof interval === 'string' && interval.includes('/') ? interval.split('/') : [undefined, undefined];
  const seconds = secondsBetween(attributeValue(entity, 'dateObservedFrom') ?? start, attributeValue(entity, 'dateObservedTo') ?? end);
  if (seconds === undefined) return 'dateObservedFrom and dateObservedTo are missing (nor is dateObserved an interval): the counting interval is unknown';
  const intensity = attributeValue(entity, 'intensity');
  if (typeof intensity !== 'number') return intensity === undefined ? 'intensity is missing' : `intensity must be a number, got ${typeof intensity}`;
  const vehicleType = attributeValue(entity, 'vehicleType');
  if (vehicleType !== undefined && (typeof vehicleType !== 'string' || !(vehicleType in BY_VEHICLE_TYPE))) {
    return `vehicleType must be one of ${Object.keys(BY_VEHICLE_TYPE).join(', ')}, got ${JSON.stringify(vehicleType)}`;
  }
  // Without a vehicle type a lane's detector counts motor vehicles, recorded as cars (see the README).
  const field = vehicleType === undefined ? 'cars' : (BY_VEHICLE_TYPE[vehicleType] as string);
  return { interval_s: seconds, [field]: intensity };
};
