import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';
import { smartDataModel } from './formats/fiware.ts';
import { thingsStackUplink } from './formats/things-stack.ts';

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
    // Optional: FIWARE's WasteContainer and many bins' sensors report the fill level alone.
    battery_pct: percentage('Remaining battery of the sensor', [20, 100]).optional(),
  }),
  formats: [
    // A container's fillingLevel is a ratio (parts per one); it reports its state as it is, often without a time.
    ...smartDataModel({ type: 'WasteContainer', time: ['dateObserved', 'dateModified'], orArrival: true, fields: { fill_pct: { attribute: 'fillingLevel', unit: 'C62' } } }),
    thingsStackUplink({ fields: { fill_pct: { key: ['fill_pct', 'fillLevel', 'fill_level'] }, battery_pct: { key: ['battery_pct', 'battery'] } } }),
  ],
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
