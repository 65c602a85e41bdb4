/**
 * Units a format may send a value in, by UN/CEFACT Recommendation 20 code
 * (what FIWARE's `unitCode` holds) and by the names people write, each as
 * a factor onto a base unit of its quantity. The registry's own field units
 * are among them, so any value converts to its field's unit where the two
 * measure the same quantity.
 */

/** A unit: the quantity it measures and the factor that takes a value in it to the quantity's base unit. */
export interface Unit {
  readonly quantity: string;
  readonly factor: number;
  /** How a reason names it. */
  readonly name: string;
}

const unit = (quantity: string, factor: number, name: string, ...spellings: string[]): [string, Unit][] =>
  spellings.map((s) => [s, { quantity, factor, name }]);

/** Every unit by code and spelling. */
export const UNITS: ReadonlyMap<string, Unit> = new Map([
  ...unit('mass concentration', 1, 'µg/m³', 'GQ', 'µg/m³', 'µg/m3', 'ug/m3', 'ug/m³', 'μg/m³', 'μg/m3', 'microgram per cubic metre'),
  ...unit('mass concentration', 1000, 'mg/m³', 'GP', 'mg/m³', 'mg/m3', 'milligram per cubic metre'),
  ...unit('sound level', 1, 'dB', '2N', 'dB', 'dB(A)', 'dBA', 'decibel'),
  ...unit('length', 1, 'cm', 'CMT', 'cm', 'centimetre'),
  ...unit('length', 0.1, 'mm', 'MMT', 'mm', 'millimetre'),
  ...unit('length', 100, 'm', 'MTR', 'm', 'metre'),
  ...unit('duration', 1, 's', 'SEC', 's', 'second'),
  ...unit('duration', 60, 'min', 'MIN', 'min', 'minute'),
  ...unit('duration', 3600, 'h', 'HUR', 'h', 'hour'),
  ...unit('fraction', 1, '%', 'P1', '%', 'percent'),
  ...unit('fraction', 100, 'ratio (parts per one)', 'C62', 'ratio', 'one'),
  ...unit('count', 1, 'count', 'count', 'spaces'),
]);

/**
 * The factor that takes a value in `from` to `to`; a text why not where
 * either is unknown or they measure different quantities.
 */
export function conversionFactor(from: string, to: string): number | string {
  const a = UNITS.get(from);
  if (!a) return `unit ${JSON.stringify(from)} is not in the unit table`;
  const b = UNITS.get(to);
  if (!b) return `unit ${JSON.stringify(to)} is not in the unit table`;
  if (a.quantity !== b.quantity) return `unit ${JSON.stringify(from)} (${a.name}, ${a.quantity}) cannot be converted to ${b.name} (${b.quantity})`;
  return a.factor / b.factor;
}
