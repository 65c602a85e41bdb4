import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';
import { ircelineSos } from './formats/irceline.ts';

const concentration = (description: string, typical: [number, number]) =>
  z.number().nonnegative().max(2000).meta({ unit: 'µg/m³', description, typical });

export const airQuality = defineDataset({
  id: 'air_quality',
  title: 'Air quality',
  description: 'Particulate matter and nitrogen dioxide concentrations from low-cost street-level sensors.',
  keywords: ['luchtkwaliteit', 'fijnstof', 'PM2.5', 'PM10', 'NO2', 'air quality'],
  reading: z.object({
    ts: eventTime(),
    pm25: concentration('PM2.5 mass concentration', [3, 35]),
    pm10: concentration('PM10 mass concentration', [8, 50]),
    no2: concentration('NO2 concentration', [10, 60]),
  }),
  governance: {
    owner: 'Dienst Milieu en Klimaat',
    steward: 'luchtkwaliteit@stad.example.be',
    classification: 'open',
    personalData: [],
    legalBasis: 'Public task (Decreet Lokaal Bestuur); no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'FIWARE Smart Data Model Environment/AirQualityObserved',
    updateFrequency: 'PT10M',
  },
  formats: [ircelineSos],
  retention: { rawDays: 90, curatedDays: 3650, quarantineDays: 90 },
});
