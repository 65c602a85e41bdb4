import { z } from 'zod';
import { defineDataset, eventTime, type Thresholds } from './define.ts';
import { smartDataModel } from './formats/fiware.ts';
import { thingsStackUplink } from './formats/things-stack.ts';

/** Levels above the gauge zero at which the city's flood plan acts. */
const FLOOD_BANDS: Thresholds = {
  basis: 'Flood plan of the Dienst Openbaar Domein: watch from 150 cm, alert from 200 cm, alarm from 250 cm above the gauge zero',
  bands: [
    { below: 150, level: 'good', label: { en: 'normal', nl: 'normaal' } },
    { below: 200, level: 'moderate', label: { en: 'watch', nl: 'waakzaamheid' } },
    { below: 250, level: 'poor', label: { en: 'alert', nl: 'waarschuwing' } },
    { level: 'very_poor', label: { en: 'flood alarm', nl: 'overstromingsalarm' } },
  ],
};

export const waterLevel = defineDataset({
  id: 'water_level',
  title: 'Water levels',
  description: 'Water level of brooks, canals and retention basins relative to the gauge zero, for flood warnings.',
  nl: {
    title: 'Waterpeilen',
    description: 'Waterpeil van beken, kanalen en wachtbekkens ten opzichte van het nulpunt van de peilschaal, voor overstromingswaarschuwingen.',
  },
  keywords: ['waterpeil', 'overstroming', 'beken', 'water level'],
  themes: ['ENVI'],
  reading: z.object({
    ts: eventTime(),
    level_cm: z.number().min(-1000).max(5000).meta({ unit: 'cm', description: 'Level above the gauge zero', typical: [40, 180], thresholds: FLOOD_BANDS }),
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
    purpose: 'Warn in time for floods and steer the retention basins',
    legalBasis: 'Public task (Decreet Integraal Waterbeleid); no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'OSLO Sensoren en Bemonstering (SOSA/SSN Observation)',
    updateFrequency: 'PT5M',
  },
  retention: { rawDays: 90, curatedDays: 3650, quarantineDays: 90 },
});
