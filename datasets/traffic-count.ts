import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';
import { telraamTraffic } from './formats/telraam.ts';
import { smartDataModel } from './formats/fiware.ts';
import { thingsStackUplink } from './formats/things-stack.ts';
import { trafficFlowCounts } from './formats/traffic-flow.ts';

// Numbers, not integers: counters that extrapolate (Telraam scales its camera's counts up to the hour it was
// not counting) report fractions, and rounding each would bias every sum. Optional: a FIWARE
// TrafficFlowObserved counts one vehicle type per entity.
const count = (description: string, typical: [number, number]) =>
  z.number().nonnegative().optional().meta({ unit: 'count', description, typical, aggregate: ['sum'] });

export const trafficCount = defineDataset({
  id: 'traffic_count',
  title: 'Traffic counts',
  description: 'Road users counted per interval by street-side counters (Telraam-style), per mode.',
  keywords: ['verkeerstellingen', 'mobiliteit', 'fietsers', 'voetgangers', 'Telraam', 'traffic'],
  reading: z.object({
    ts: eventTime(),
    interval_s: z.int().positive().max(86400).meta({ unit: 's', description: 'Length of the counting interval ending at ts', typical: [900, 900], aggregate: [] }),
    cars: count('Passenger cars', [0, 120]),
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
    legalBasis: 'Public task (Decreet Lokaal Bestuur); counts only, no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'FIWARE Smart Data Model Transportation/TrafficFlowObserved',
    updateFrequency: 'PT15M',
  },
  retention: { rawDays: 30, curatedDays: 3650, quarantineDays: 30 },
});
