import { z } from 'zod';
import { defineDataset, eventTime, type Thresholds } from './define.ts';
import { smartDataModel } from './formats/fiware.ts';
import { sensorCommunity } from './formats/sensor-community.ts';
import { thingsStackUplink } from './formats/things-stack.ts';

const level = (description: string, typical: [number, number], thresholds?: Thresholds) =>
  z.number().min(0).max(200).meta({ unit: 'dB(A)', description, typical, ...(thresholds ? { thresholds } : {}) });

/**
 * The WHO's road-traffic guideline (53 dB Lden) and the bands the
 * Environmental Noise Directive reports Lden in (55-59, 60-64, 65-69, 70-74,
 * 75 and more). An interval's LAeq is not an Lden, which weighs evening and
 * night: the bands place a level on the scale residents know from the noise maps.
 */
const LDEN_BANDS: Thresholds = {
  basis: 'WHO Environmental Noise Guidelines 2018 (road traffic, 53 dB Lden) and the Lden bands of the Environmental Noise Directive 2002/49/EC',
  bands: [
    { below: 53, level: 'good', label: { en: 'below the WHO road-traffic guideline (53 dB)', nl: 'onder de WHO-richtwaarde voor wegverkeer (53 dB)' } },
    { below: 55, level: 'fair', label: { en: '53-54 dB: above the WHO guideline', nl: '53-54 dB: boven de WHO-richtwaarde' } },
    { below: 60, level: 'moderate', label: { en: 'Lden band 55-59 dB', nl: 'Lden-klasse 55-59 dB' } },
    { below: 70, level: 'poor', label: { en: 'Lden bands 60-64 and 65-69 dB', nl: 'Lden-klassen 60-64 en 65-69 dB' } },
    { level: 'very_poor', label: { en: 'Lden bands 70-74 and 75 dB or more', nl: 'Lden-klassen 70-74 en 75 dB of meer' } },
  ],
};

export const noise = defineDataset({
  id: 'noise',
  title: 'Noise levels',
  description: 'A-weighted sound levels per measurement interval from fixed noise monitors.',
  nl: {
    title: 'Geluidsniveaus',
    description: 'A-gewogen geluidsniveaus per meetinterval van vaste geluidsmeters.',
  },
  keywords: ['geluid', 'geluidshinder', 'LAeq', 'LAmax', 'noise'],
  themes: ['ENVI', 'HEAL'],
  reading: z.object({
    ts: eventTime(),
    laeq: level('Equivalent continuous sound level over the interval (LAeq)', [45, 70], LDEN_BANDS),
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
    purpose: 'Follow noise exposure in busy streets and nightlife areas, and act on the noise action plan',
    legalBasis: 'Public task (Decreet Lokaal Bestuur); no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'FIWARE Smart Data Model Environment/NoiseLevelObserved',
    updateFrequency: 'PT1M',
  },
  retention: { rawDays: 30, curatedDays: 1825, quarantineDays: 30 },
});
