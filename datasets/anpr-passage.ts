import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';

const LETTERS = 'ABCDEFGHJKLMNPRSTVWXYZ';

/** A Belgian-format plate (1-ABC-123); the simulator's only source of plates. */
function belgianPlate(random: () => number): string {
  const letter = () => LETTERS[Math.floor(random() * LETTERS.length)] ?? 'A';
  const digit = () => String(Math.floor(random() * 10));
  return `${1 + Math.floor(random() * 9)}-${letter()}${letter()}${letter()}-${digit()}${digit()}${digit()}`;
}

export const anprPassage = defineDataset({
  id: 'anpr_passage',
  title: 'ANPR camera passages',
  description: 'Vehicle passages recorded by number-plate cameras at the low-emission zone and traffic circulation plan gates.',
  nl: {
    title: 'ANPR-camerapassages',
    description: 'Voertuigpassages geregistreerd door nummerplaatcamera\'s aan de poorten van de lage-emissiezone en het circulatieplan.',
  },
  keywords: ['ANPR', 'LEZ', 'lage-emissiezone', 'circulatieplan', 'camera'],
  themes: ['TRAN'],
  reading: z.object({
    ts: eventTime(),
    direction: z.enum(['in', 'out']).meta({ description: 'Entering or leaving the zone' }),
    lane: z.int().min(1).max(8).meta({ description: 'Lane the camera read the vehicle in', typical: [1, 2], aggregate: [] }),
    plate: z.string().min(1).max(16).meta({ description: 'Number plate; pseudonymised (HMAC-SHA256) before curated' }),
    confidence: z.number().min(0).max(1).meta({ unit: 'ratio', description: 'Recognition confidence', typical: [0.8, 1], thresholds: {
      basis: 'Camera acceptance: a read below 0.9 is checked by hand before enforcement, below 0.8 it is discarded',
      bands: [
        { below: 0.8, level: 'poor', label: { en: 'discarded', nl: 'verworpen' } },
        { below: 0.9, level: 'moderate', label: { en: 'checked by hand', nl: 'manueel gecontroleerd' } },
        { level: 'good', label: { en: 'reliable read', nl: 'betrouwbare lezing' } },
      ],
    } }),
  }),
  governance: {
    owner: 'Dienst Mobiliteit',
    steward: 'dpo@stad.example.be',
    classification: 'closed',
    personalData: ['plate'],
    purpose: 'Enforce the low-emission zone and the circulation plan, and count vehicles entering and leaving the zone',
    legalBasis: 'GDPR art. 6(1)(e) public task; Camerawet and the LEZ decree (Decreet Lage-emissiezones)',
    licence: 'Not for reuse: internal use under the camera notification',
    standard: 'OSLO Mobiliteit Trips en Verkeer',
    updateFrequency: 'PT1S',
  },
  retention: { rawDays: 7, curatedDays: 30, quarantineDays: 7 },
  simulate: { plate: belgianPlate },
});
