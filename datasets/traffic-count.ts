import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';
import { telraamTraffic } from './formats/telraam.ts';

const count = (description: string, typical: [number, number]) =>
  z.int().nonnegative().meta({ unit: 'count', description, typical, aggregate: ['sum'] });

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
  formats: [telraamTraffic],
  retention: { rawDays: 30, curatedDays: 3650, quarantineDays: 30 },
});
