import { z } from 'zod';
import { defineDataset, eventTime, type Thresholds } from './define.ts';
import { telraamTraffic } from './formats/telraam.ts';
import { smartDataModel } from './formats/fiware.ts';
import { thingsStackUplink } from './formats/things-stack.ts';
import { trafficFlowCounts } from './formats/traffic-flow.ts';

// Numbers, not integers: counters that extrapolate (Telraam scales its camera's counts up to the hour it was
// not counting) report fractions, and rounding each would bias every sum. Optional: a FIWARE
// TrafficFlowObserved counts one vehicle type per entity.
const count = (description: string, typical: [number, number], thresholds?: Thresholds) =>
  z.number().nonnegative().optional().meta({ unit: 'count', description, typical, aggregate: ['sum'], ...(thresholds ? { thresholds } : {}) });

/** Cars in a 15-minute interval on a city street: quiet, busy, congested. */
const CAR_BANDS: Thresholds = {
  basis: 'Cars per 15 minutes on a two-lane city street: 240 an hour is a residential street\'s capacity, 480 an arterial road\'s',
  bands: [
    { below: 60, level: 'good', label: { en: 'quiet (under 240 cars an hour)', nl: 'rustig (minder dan 240 auto\'s per uur)' } },
    { below: 120, level: 'moderate', label: { en: 'busy (240 to 480 cars an hour)', nl: 'druk (240 tot 480 auto\'s per uur)' } },
    { level: 'poor', label: { en: 'very busy (480 cars an hour or more)', nl: 'zeer druk (480 auto\'s per uur of meer)' } },
  ],
};

export const trafficCount = defineDataset({
  id: 'traffic_count',
  title: 'Traffic counts',
  description: 'Road users counted per interval by street-side counters (Telraam-style), per mode.',
  nl: {
    title: 'Verkeerstellingen',
    description: 'Weggebruikers per interval geteld door tellers langs de straat (zoals Telraam), per vervoerswijze.',
  },
  keywords: ['verkeerstellingen', 'mobiliteit', 'fietsers', 'voetgangers', 'Telraam', 'traffic'],
  themes: ['TRAN'],
  reading: z.object({
    ts: eventTime(),
    interval_s: z.int().positive().max(86400).meta({ unit: 's', description: 'Length of the counting interval ending at ts', typical: [900, 900], aggregate: [] }),
    cars: count('Passenger cars', [0, 120], CAR_BANDS),
    bikes: count('Bicycles', [0, 80]),
    pedestrians: count('Pedestrians', [0, 150]),
    heavy_vehicles: count('Trucks and buses', [0, 15]),
  }),
  formats: [
    ...smartDataModel({ type: 'TrafficFlowObserved', time: ['dateObservedTo', 'dateObserved'], fields: {}, compute: trafficFlowCounts }),
    thingsStackUplink({
      fields: {
        interval_s: { key: ['interval_s', 'interval'] },
        cars: { key: ['cars', 'car'] },
        bikes: { key: ['bikes', 'bike'] },
        pedestrians: { key: ['pedestrians', 'pedestrian'] },
        heavy_vehicles: { key: ['heavy_vehicles', 'heavy'] },
      },
    }),
    telraamTraffic,
  ],
  governance: {
    owner: 'Dienst Mobiliteit',
    steward: 'mobiliteit@stad.example.be',
    classification: 'open',
    personalData: [],
    purpose: 'Count road users per mode to plan the circulation plan, cycling routes and road safety measures',
    legalBasis: 'Public task (Decreet Lokaal Bestuur); counts only, no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'FIWARE Smart Data Model Transportation/TrafficFlowObserved',
    updateFrequency: 'PT15M',
  },
  retention: { rawDays: 30, curatedDays: 3650, quarantineDays: 30 },
});
