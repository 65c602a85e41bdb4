import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';

const percentage = (description: string, typical: [number, number]) =>
  z.number().min(0).max(100).meta({ unit: '%', description, typical });

export const wasteFill = defineDataset({
  id: 'waste_fill',
  title: 'Waste bin fill levels',
  description: 'Fill level of public waste bins and underground containers, for collection routes.',
  keywords: ['afval', 'vulgraad', 'sluikstort', 'containers', 'waste'],
  reading: z.object({
    ts: eventTime(),
    fill_pct: percentage('Fill level of the bin', [5, 95]),
    battery_pct: percentage('Remaining battery of the sensor', [20, 100]),
  }),
  governance: {
    owner: 'Dienst Netheid',
    steward: 'netheid@stad.example.be',
    classification: 'shared',
    personalData: [],
    legalBasis: 'Public task (Decreet Lokaal Bestuur); shared with the collection contractor',
    licence: 'Data-deelovereenkomst inzamelaar',
    standard: 'FIWARE Smart Data Model WasteManagement/WasteContainer',
    updateFrequency: 'PT1H',
  },
  retention: { rawDays: 30, curatedDays: 730, quarantineDays: 30 },
});
