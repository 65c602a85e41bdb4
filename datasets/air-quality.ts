import { z } from 'zod';
import { defineDataset, eventTime, type Level, type Thresholds } from './define.ts';
import { ircelineSos } from './formats/irceline.ts';
import { smartDataModel } from './formats/fiware.ts';
import { sensorCommunity, valueTypes } from './formats/sensor-community.ts';
import { thingsStackUplink } from './formats/things-stack.ts';

const concentration = (description: string, typical: [number, number], thresholds: Thresholds) =>
  z.number().nonnegative().max(2000).meta({ unit: 'µg/m³', description, typical, thresholds });

const WHO_24H = 'WHO Global Air Quality Guidelines 2021: the 24-hour guideline level (AQG) and interim targets (IT)';

/** Bands of a pollutant from the WHO 24-hour guideline level and its interim targets, ascending. */
function whoBands(guideline: number, targets: readonly number[]): Thresholds {
  const [first, ...rest] = targets;
  return {
    basis: WHO_24H,
    bands: [
      { below: guideline, level: 'good', label: { en: `within the WHO 24-hour guideline (${guideline} µg/m³)`, nl: `binnen de WHO-richtwaarde voor 24 uur (${guideline} µg/m³)` } },
      ...(first === undefined ? [] : [{ below: first, level: 'fair' as const, label: { en: `above the guideline, within interim target ${targets.length} (${first} µg/m³)`, nl: `boven de richtwaarde, binnen tussendoel ${targets.length} (${first} µg/m³)` } }]),
      ...rest.map((below, i) => ({
        below,
        level: (i < rest.length - 1 ? 'moderate' : 'poor') as Level,
        label: { en: `within interim target ${targets.length - 1 - i} (${below} µg/m³)`, nl: `binnen tussendoel ${targets.length - 1 - i} (${below} µg/m³)` },
      })),
      { level: 'very_poor', label: { en: `above every WHO interim target (${targets.at(-1) ?? guideline} µg/m³)`, nl: `boven elk WHO-tussendoel (${targets.at(-1) ?? guideline} µg/m³)` } },
    ],
  };
}

export const airQuality = defineDataset({
  id: 'air_quality',
  title: 'Air quality',
  description: 'Particulate matter and nitrogen dioxide concentrations from low-cost street-level sensors.',
  nl: {
    title: 'Luchtkwaliteit',
    description: 'Concentraties fijnstof en stikstofdioxide, gemeten door goedkope sensoren op straatniveau.',
  },
  keywords: ['luchtkwaliteit', 'fijnstof', 'PM2.5', 'PM10', 'NO2', 'air quality'],
  themes: ['ENVI', 'HEAL'],
  reading: z.object({
    ts: eventTime(),
    pm25: concentration('PM2.5 mass concentration', [3, 35], whoBands(15, [25, 37.5, 50, 75])),
    pm10: concentration('PM10 mass concentration', [8, 50], whoBands(45, [50, 75, 100, 150])),
    // Optional: the low-cost particulate sensors most feeds carry (sensor.community's, LoRaWAN ones) measure no NO2.
    no2: concentration('NO2 concentration', [10, 60], whoBands(25, [50, 120])).optional(),
  }),
  formats: [
    ...smartDataModel({
      type: 'AirQualityObserved',
      time: 'dateObserved',
      fields: {
        pm25: { attribute: ['pm25', 'PM25', 'PM2.5', 'pm2_5'], unit: 'GQ' },
        pm10: { attribute: ['pm10', 'PM10'], unit: 'GQ' },
        no2: { attribute: ['no2', 'NO2'], unit: 'GQ' },
      },
    }),
    thingsStackUplink({ fields: { pm25: { key: ['pm2_5', 'pm25', 'PM2.5', 'PM 2.5'] }, pm10: { key: ['pm10', 'PM10', 'PM 10'] }, no2: { key: ['no2', 'NO2'] } } }),
    sensorCommunity({ pm10: valueTypes('P1'), pm25: valueTypes('P2') }),
    ircelineSos,
  ],
  governance: {
    owner: 'Dienst Milieu en Klimaat',
    steward: 'luchtkwaliteit@stad.example.be',
    classification: 'open',
    personalData: [],
    purpose: 'Inform residents and the city about the air they breathe, and evaluate traffic and climate measures',
    legalBasis: 'Public task (Decreet Lokaal Bestuur); no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'FIWARE Smart Data Model Environment/AirQualityObserved',
    updateFrequency: 'PT10M',
  },
  retention: { rawDays: 90, curatedDays: 3650, quarantineDays: 90 },
});
