import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';
import { smartDataModel } from './formats/fiware.ts';
import { sensorCommunity } from './formats/sensor-community.ts';
import { thingsStackUplink } from './formats/things-stack.ts';

const level = (description: string, typical: [number, number]) =>
  z.number().min(0).max(200).meta({ unit: 'dB(A)', description, typical });

export const noise = defineDataset({
  id: 'noise',
  title: 'Noise levels',
  description: 'A-weighted sound levels per measurement interval from fixed noise monitors.',
  keywords: ['geluid', 'geluidshinder', 'LAeq', 'LAmax', 'noise'],
  reading: z.object({
    ts: eventTime(),
    laeq: level('Equivalent continuous sound level over the interval (LAeq)', [45, 70]),
    lamax: level('Maximum sound level in the interval (LAmax)', [60, 90]),
  }),
  formats: [
    ...smartDataModel({ type: 'NoiseLevelObserved', time: ['dateObservedTo', 'dateObserved'], fields: { laeq: { attribute: 'LAeq' }, lamax: { attribute: 'LAmax' } } }),
    thingsStackUplink({
      fields: { laeq: { key: ['laeq', 'LAeq'] }, lamax: { key: ['lamax', 'LAmax'] } },
      // Noise monitors without a payload formatter send both levels in tenths of a dB, big-endian.
      layout: [
        { key: 'laeq', type: 'uint16be', scale: 0.1 },
        { key: 'lamax', type: 'uint16be', scale: 0.1 },
      ],
    }),
    sensorCommunity({ laeq: ['noise_LAeq', 'DNMS_noise_LAeq'], lamax: ['noise_LA_max', 'DNMS_noise_LA_max'] }),
  ],
  governance: {
    owner: 'Dienst Milieu en Klimaat',
    steward: 'geluid@stad.example.be',
    classification: 'open',
    personalData: [],
    legalBasis: 'Public task (Decreet Lokaal Bestuur); no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'FIWARE Smart Data Model Environment/NoiseLevelObserved',
    updateFrequency: 'PT1M',
  },
  retention: { rawDays: 30, curatedDays: 1825, quarantineDays: 30 },
});
