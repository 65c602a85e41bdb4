import { z } from 'zod';
import { defineDataset, eventTime, type Thresholds } from './define.ts';
import { opendatasoftParking } from './formats/opendatasoft.ts';
import { smartDataModel } from './formats/fiware.ts';
import { thingsStackUplink } from './formats/things-stack.ts';

/** Free spaces of a car park, as its guidance signs show them. */
const FREE_BANDS: Thresholds = {
  basis: 'Parking guidance signs: "vol" under 10 free spaces, "bijna vol" under 50',
  bands: [
    { below: 10, level: 'poor', label: { en: 'full', nl: 'vol' } },
    { below: 50, level: 'moderate', label: { en: 'nearly full', nl: 'bijna vol' } },
    { level: 'good', label: { en: 'spaces free', nl: 'plaatsen vrij' } },
  ],
};

export const parkingOccupancy = defineDataset({
  id: 'parking_occupancy',
  title: 'Parking occupancy',
  description: 'Free and total spaces of car parks and on-street parking zones.',
  nl: {
    title: 'Parkeerbezetting',
    description: 'Vrije en totale plaatsen van parkings en parkeerzones op straat.',
  },
  keywords: ['parkeren', 'bezetting', 'parkings', 'parking'],
  themes: ['TRAN'],
  reading: z.object({
    ts: eventTime(),
    free_spaces: z.int().nonnegative().meta({ unit: 'spaces', description: 'Spaces free at ts', typical: [0, 250], thresholds: FREE_BANDS }),
    total_spaces: z.int().positive().meta({ unit: 'spaces', description: 'Spaces in service at ts', typical: [250, 250], aggregate: ['max'] }),
  }),
  formats: [
    ...smartDataModel({
      type: 'OffStreetParking',
      time: ['dateObserved', 'occupancyModified', 'dateModified'],
      orArrival: true,
      fields: { free_spaces: { attribute: 'availableSpotNumber' }, total_spaces: { attribute: 'totalSpotNumber' } },
    }).map((f) => ({ ...f, id: `${f.id}-offstreet` })),
    // One spot is one space: free or not.
    ...smartDataModel({
      type: 'ParkingSpot',
      time: ['observedAt', 'dateObserved', 'dateModified'],
      orArrival: true,
      fields: { free_spaces: { attribute: 'status', values: { free: 1, occupied: 0 } }, total_spaces: { constant: 1 } },
    }).map((f) => ({ ...f, id: `${f.id}-spot` })),
    thingsStackUplink({ fields: { free_spaces: { key: ['free_spaces', 'free'] }, total_spaces: { key: ['total_spaces', 'total'] } } }),
    opendatasoftParking,
  ],
  governance: {
    owner: 'Dienst Mobiliteit',
    steward: 'parkeren@stad.example.be',
    classification: 'open',
    personalData: [],
    purpose: 'Guide drivers to free spaces and plan parking policy',
    legalBasis: 'Public task (Decreet Lokaal Bestuur); no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'FIWARE Smart Data Model Parking/OffStreetParking',
    updateFrequency: 'PT5M',
  },
  retention: { rawDays: 30, curatedDays: 1825, quarantineDays: 30 },
});
