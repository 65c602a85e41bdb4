import { z } from 'zod';
import { defineDataset, eventTime } from './define.ts';
import { ircelineSos } from './formats/irceline.ts';
import { smartDataModel } from './formats/fiware.ts';
import { sensorCommunity, valueTypes } from './formats/sensor-community.ts';
import { thingsStackUplink } from './formats/things-stack.ts';

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
    // Optional: the low-cost particulate sensors most feeds carry (sensor.community's, LoRaWAN ones) measure no NO2.
    no2: concentration('NO2 concentration', [10, 60]).optional(),
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
    legalBasis: 'Public task (Decreet Lokaal Bestuur); no personal data',
    licence: 'Modellicentie Gratis Hergebruik Vlaanderen v1.0',
    standard: 'FIWARE Smart Data Model Environment/AirQualityObserved',
    updateFrequency: 'PT10M',
  },
  retention: { rawDays: 90, curatedDays: 3650, quarantineDays: 90 },
});
