/**
 * The demo fleet's city: Gent. Each dataset's sensors stand at places where
 * a city would put them (air quality on busy squares and at the ring road,
 * parking at the car parks of the parking route, ANPR at the gates of the
 * low-emission zone), so the map and the catalog's spatial coverage look
 * like a real city's. Places are fixed per sensor id, whatever the fleet's seed.
 */
import type { Dataset } from '../datasets/index.ts';
import type { SensorPlace } from '../functions/core/places.ts';

/** A named spot: latitude, longitude (WGS 84), name and street. */
type Spot = readonly [number, number, string, string];

/** The demo city: its name and centre. */
export const DEMO_CITY = Object.freeze({ name: 'Gent', latitude: 51.0543, longitude: 3.7174 });

const SPOTS: Readonly<Record<string, readonly Spot[]>> = {
  air_quality: [
    [51.0547, 3.7216, 'Korenmarkt', 'Korenmarkt, 9000 Gent'],
    [51.0429, 3.7265, 'Sint-Pietersplein', 'Sint-Pietersplein, 9000 Gent'],
    [51.057, 3.741, 'Dampoort', 'Dampoortstraat, 9000 Gent'],
    [51.0633, 3.7102, 'Rabot', 'Rabotstraat, 9000 Gent'],
    [51.0356, 3.7101, 'Gent-Sint-Pieters', 'Koningin Maria Hendrikaplein, 9000 Gent'],
    [51.048, 3.73, 'Zuid', 'Woodrow Wilsonplein, 9000 Gent'],
  ],
  noise: [
    [51.0572, 3.7254, 'Vrijdagmarkt', 'Vrijdagmarkt, 9000 Gent'],
    [51.0405, 3.7254, 'Overpoort', 'Overpoortstraat, 9000 Gent'],
    [51.0507, 3.7235, 'Kouter', 'Kouter, 9000 Gent'],
    [51.042, 3.732, 'Heuvelpoort', 'Heuvelpoort, 9000 Gent'],
  ],
  traffic_count: [
    [51.036, 3.705, 'Kortrijksesteenweg', 'Kortrijksesteenweg, 9000 Gent'],
    [51.034, 3.743, 'Brusselsesteenweg', 'Brusselsesteenweg, 9050 Gent'],
    [51.0585, 3.7085, 'Nieuwewandeling', 'Nieuwewandeling, 9000 Gent'],
    [51.0605, 3.7495, 'Dendermondsesteenweg', 'Dendermondsesteenweg, 9040 Gent'],
  ],
  waste_fill: [
    [51.0568, 3.7275, 'Bij Sint-Jacobs', 'Bij Sint-Jacobs, 9000 Gent'],
    [51.0573, 3.7207, 'Gravensteen', 'Sint-Veerleplein, 9000 Gent'],
    [51.055, 3.7199, 'Graslei', 'Graslei, 9000 Gent'],
    [51.0531, 3.7252, 'Sint-Baafsplein', 'Sint-Baafsplein, 9000 Gent'],
  ],
  parking_occupancy: [
    [51.0575, 3.7262, 'Parking Vrijdagmarkt', 'Vrijdagmarkt, 9000 Gent'],
    [51.0562, 3.7302, 'Parking Reep', 'Reep, 9000 Gent'],
    [51.049, 3.724, 'Parking Savaanstraat', 'Savaanstraat, 9000 Gent'],
    [51.062, 3.723, 'Parking Tolhuis', 'Lindenlei, 9000 Gent'],
    [51.0505, 3.7243, 'Parking Kouter', 'Kouter, 9000 Gent'],
  ],
  water_level: [
    [51.052, 3.715, 'Leie, Lindenlei', 'Lindenlei, 9000 Gent'],
    [51.042, 3.74, 'Schelde, Ledeberg', 'Brusselsepoortstraat, 9000 Gent'],
    [51.052, 3.707, 'Coupure', 'Coupure Links, 9000 Gent'],
    [51.047, 3.69, 'Watersportbaan', 'Yachtdreef, 9000 Gent'],
    [51.058, 3.732, 'Portus Ganda', 'Oude Beestenmarkt, 9000 Gent'],
  ],
  anpr_passage: [
    [51.0592, 3.7108, 'LEZ gate Nieuwewandeling', 'Nieuwewandeling, 9000 Gent'],
    [51.0402, 3.7305, 'LEZ gate Heuvelpoort', 'Heuvelpoort, 9000 Gent'],
    [51.0567, 3.7398, 'LEZ gate Dampoort', 'Dampoortstraat, 9000 Gent'],
  ],
};

const FALLBACK: readonly Spot[] = [[DEMO_CITY.latitude, DEMO_CITY.longitude, 'Stadhuis', 'Botermarkt 1, 9000 Gent']];

/**
 * The place of the n-th demo sensor (from 1) of a dataset: its dataset's
 * spots in turn, and from the second round on a few hundred metres from
 * them (a golden-angle spiral), so a fleet of 500 spreads over the city.
 */
export function demoPlace(dataset: Dataset, sensorId: string, n: number, now: Date = new Date()): SensorPlace {
  const spots = SPOTS[dataset.id] ?? FALLBACK;
  const index = (n - 1) % spots.length;
  const round = Math.floor((n - 1) / spots.length);
  const [latitude, longitude, name, address] = spots[index] ?? (FALLBACK[0] as Spot);
  const angle = round * 2.39996;
  // About 150 m per round, at most 2.5 km from the spot.
  const metres = Math.min(round * 150, 2500);
  const dLat = (metres * Math.cos(angle)) / 111_320;
  const dLon = (metres * Math.sin(angle)) / (111_320 * Math.cos((latitude * Math.PI) / 180));
  const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
  return {
    sensor_id: sensorId,
    dataset: dataset.id,
    latitude: round6(latitude + dLat),
    longitude: round6(longitude + dLon),
    name: round === 0 ? name : `${name} ${round + 1}`,
    ...(round === 0 ? { address } : {}),
    registered_at: now.toISOString(),
  };
}
