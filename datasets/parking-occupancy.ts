import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';
import { opendatasoftParking } from './formats/opendatasoft.ts';

export const parkingOccupancy = defineDataset({
  id: 'parking_occupancy',
  title: 'Parking occupancy',
  description: 'Free and total spaces of car parks and on-street parking zones.',
  keywords: ['parkeren', 'bezetting', 'parkings', 'parking'],
  reading: z.object({
    ts: eventTime(),
    free_spaces: z.int().nonnegative().meta({ unit: 'spaces', description: 'Spaces free at ts', typical: [0, 250] }),
    total_spaces: z.int().positive().meta({ unit: 'spaces', description: 'Spaces in service at ts', typical: [250, 250], aggregate: ['max'] }),
  }),
  governance: {
    owner: 'Dienst Mobiliteit',
    steward: 'parkeren@stad.example.be',
    classification: 'open',
    personalData: [],
    legalBasis: 'Public task (Decreet Lokaal Bestuur); no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'FIWARE Smart Data Model Parking/OffStreetParking',
    updateFrequency: 'PT5M',
  },
  formats: [opendatasoftParking],
  retention: { rawDays: 30, curatedDays: 1825, quarantineDays: 30 },
});
