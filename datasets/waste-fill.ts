import { z } from 'zod';
import { defineDataset, eventTime, type Thresholds } from './define.ts';
import { smartDataModel } from './formats/fiware.ts';
import { thingsStackUplink } from './formats/things-stack.ts';

const percentage = (description: string, typical: [number, number], thresholds: Thresholds) =>
  z.number().min(0).max(100).meta({ unit: '%', description, typical, thresholds });

const FILL_BANDS: Thresholds = {
  basis: 'Collection rule of the Dienst Netheid: a bin is emptied on the next round from 70 %, at once from 90 %',
  bands: [
    { below: 70, level: 'good', label: { en: 'room to spare', nl: 'nog plaats' } },
    { below: 90, level: 'moderate', label: { en: 'empty on the next round', nl: 'legen bij de volgende ronde' } },
    { level: 'poor', label: { en: 'full: empty now', nl: 'vol: nu legen' } },
  ],
};

const BATTERY_BANDS: Thresholds = {
  basis: 'Maintenance rule: a sensor\'s battery is replaced below 20 %',
  bands: [
    { below: 10, level: 'very_poor', label: { en: 'battery nearly empty', nl: 'batterij bijna leeg' } },
    { below: 20, level: 'poor', label: { en: 'replace the battery', nl: 'batterij vervangen' } },
    { level: 'good', label: { en: 'battery fine', nl: 'batterij in orde' } },
  ],
};

export const wasteFill = defineDataset({
  id: 'waste_fill',
  title: 'Waste bin fill levels',
  description: 'Fill level of public waste bins and underground containers, for collection routes.',
  nl: {
    title: 'Vulgraad afvalbakken',
    description: 'Vulgraad van openbare vuilnisbakken en ondergrondse containers, voor de ophaalrondes.',
  },
  keywords: ['afval', 'vulgraad', 'sluikstort', 'containers', 'waste'],
  themes: ['ENVI'],
  reading: z.object({
    ts: eventTime(),
    fill_pct: percentage('Fill level of the bin', [5, 95], FILL_BANDS),
    // Optional: FIWARE's WasteContainer and many bins' sensors report the fill level alone.
    battery_pct: percentage('Remaining battery of the sensor', [20, 100], BATTERY_BANDS).optional(),
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
    purpose: 'Empty public bins before they overflow, on routes planned with the collection contractor',
    legalBasis: 'Public task (Decreet Lokaal Bestuur); shared with the collection contractor',
    licence: 'Data-deelovereenkomst inzamelaar',
    standard: 'FIWARE Smart Data Model WasteManagement/WasteContainer',
    updateFrequency: 'PT1H',
  },
  retention: { rawDays: 30, curatedDays: 730, quarantineDays: 30 },
});
