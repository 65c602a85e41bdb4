/**
 * The demo city's inner ring road (R40, Gent), drawn under the sensors: a
 * sense of place on a plain background when no tile server is reachable.
 */
export const CITY_OUTLINE: [number, number][] = [
  [51.0567, 3.7405],
  [51.064, 3.733],
  [51.063, 3.719],
  [51.062, 3.708],
  [51.056, 3.701],
  [51.048, 3.706],
  [51.04, 3.713],
  [51.0395, 3.73],
  [51.045, 3.738],
  [51.047, 3.745],
];
