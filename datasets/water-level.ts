import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';
import { smartDataModel } from './formats/fiware.ts';
import { thingsStackUplink } from './formats/things-stack.ts';

export const waterLevel = defineDataset({
  id: 'water_level',
  title: 'Water levels',
  description: 'Water level of brooks, canals and retention basins relative to the gauge zero, for flood warnings.',
  keywords: ['waterpeil', 'overstroming', 'beken', 'water level'],
  reading: z.object({
    ts: eventTime(),
    level_cm: z.number().min(-1000).max(5000).meta({ unit: 'cm', description: 'Level above the gauge zero', typical: [40, 180] }),
  }),
  formats: [
    // WaterObserved's height is in metres unless the entity names a unit.
    ...smartDataModel({ type: 'WaterObserved', time: 'dateObserved', fields: { level_cm: { attribute: 'height', unit: 'MTR' } } }),
    ...smartDataModel({ type: 'FloodMonitoring', time: 'dateObserved', fields: { level_cm: { attribute: 'currentLevel', unit: 'MTR' } } }).map((f) => ({ ...f, id: `${f.id}-flood` })),
    thingsStackUplink({ fields: { level_cm: { key: ['level_cm', 'level'] } } }),
  ],
  governance: {
    owner: 'Dienst Openbaar Domein',
    steward: 'waterbeheer@stad.example.be',
    classification: 'open',
    personalData: [],
    legalBasis: 'Public task (Decreet Integraal Waterbeleid); no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'OSLO Sensoren en Bemonstering (SOSA/SSN Observation)',
    updateFrequency: 'PT5M',
  },
  retention: { rawDays: 90, curatedDays: 3650, quarantineDays: 90 },
});
