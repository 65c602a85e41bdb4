import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  checkRegistry,
  defineDataset,
  eventTime,
  getDataset,
  registry,
  UnknownDatasetError,
  type DatasetInput,
  bandOf,
  headlineField,
} from '../../datasets/index.ts';

const base = (): DatasetInput => ({
  id: 'bike_parking',
  title: 'Bike parking',
  description: 'Free places in bike sheds',
  nl: { title: 'Fietsenstallingen', description: 'Vrije plaatsen in fietsenstallingen' },
  keywords: ['fietsenstalling'],
  reading: z.object({ ts: eventTime(), free: z.int().nonnegative().meta({ unit: 'places' }) }),
  governance: {
    owner: 'Dienst Mobiliteit',
    steward: 'fiets@stad.example.be',
    classification: 'open',
    personalData: [],
    purpose: 'Guide cyclists to free places',
    legalBasis: 'Public task',
    licence: 'CC0',
    standard: 'OSLO',
    updateFrequency: 'PT5M',
  },
  retention: { rawDays: 30, curatedDays: 365, quarantineDays: 30 },
});

describe('the registry', () => {
  it('holds the seven datasets of a Flemish city', () => {
    expect(registry.map((d) => d.id)).toEqual([
      'air_quality',
      'noise',
      'traffic_count',
      'waste_fill',
      'parking_occupancy',
      'water_level',
      'anpr_passage',
    ]);
  });

  it('derives every dataset’s fields from its zod schema, ts first and typed as a timestamp', () => {
    for (const dataset of registry) {
      expect(dataset.fields[0]).toMatchObject({ name: 'ts', kind: 'timestamp', required: true });
      expect(dataset.fields.map((f) => f.name).sort()).toEqual(Object.keys(dataset.reading.shape).sort());
    }
  });

  it('derives types and units of air quality from the schema', () => {
    expect(getDataset('air_quality').fields.map((f) => [f.name, f.kind, f.unit ?? null])).toEqual([
      ['ts', 'timestamp', null],
      ['pm25', 'double', 'µg/m³'],
      ['pm10', 'double', 'µg/m³'],
      ['no2', 'double', 'µg/m³'],
    ]);
  });

  it('marks the number plate of anpr_passage as personal data and the dataset as closed', () => {
    const anpr = getDataset('anpr_passage');
    expect(anpr.fields.filter((f) => f.personal).map((f) => f.name)).toEqual(['plate']);
    expect(anpr.governance.classification).toBe('closed');
  });

  it('gives every dataset a Dutch and an English title and description, and a purpose', () => {
    for (const d of registry) {
      expect([d.title, d.description, d.nl.title, d.nl.description, d.governance.purpose].every((t) => t.trim().length > 0)).toBe(true);
      expect(d.nl.title).not.toBe(d.title);
    }
  });

  it('bands PM2.5 and NO2 at the WHO 24-hour guideline levels and noise at 53 dB Lden', () => {
    const air = getDataset('air_quality');
    const bounds = (name: string) => air.fields.find((f) => f.name === name)?.thresholds?.bands.map((b) => b.below ?? null);
    expect(bounds('pm25')).toEqual([15, 25, 37.5, 50, 75, null]);
    expect(bounds('no2')).toEqual([25, 50, 120, null]);
    const laeq = getDataset('noise').fields.find((f) => f.name === 'laeq')?.thresholds;
    expect(laeq?.bands.map((b) => [b.below ?? null, b.level])).toEqual([[53, 'good'], [55, 'fair'], [60, 'moderate'], [70, 'poor'], [null, 'very_poor']]);
    expect(bandOf(laeq, 52.9)?.level).toBe('good');
    expect(bandOf(laeq, 53)?.level).toBe('fair');
    expect(bandOf(laeq, 90)?.level).toBe('very_poor');
  });

  it('has a headline field with thresholds for every dataset, which the map shows', () => {
    expect(registry.map((d) => headlineField(d)?.name)).toEqual(['pm25', 'laeq', 'cars', 'fill_pct', 'free_spaces', 'level_cm', 'confidence']);
    for (const d of registry) expect(headlineField(d)?.thresholds).toBeDefined();
  });

  it('refuses an unknown dataset id naming the known ones', () => {
    expect(() => getDataset('air')).toThrow(UnknownDatasetError);
    expect(() => getDataset('air')).toThrow(/unknown dataset "air".*air_quality/);
  });
});

describe('defineDataset refuses, naming the dataset', () => {
  const cases: [string, (d: DatasetInput) => DatasetInput, RegExp][] = [
    ['a missing owner', (d) => ({ ...d, governance: { ...d.governance, owner: '' } }), /"bike_parking": governance\.owner is missing/],
    ['a missing steward', (d) => ({ ...d, governance: { ...d.governance, steward: ' ' } }), /"bike_parking": governance\.steward is missing/],
    ['zero raw retention', (d) => ({ ...d, retention: { ...d.retention, rawDays: 0 } }), /"bike_parking": retention\.rawDays must be a positive/],
    ['negative curated retention', (d) => ({ ...d, retention: { ...d.retention, curatedDays: -1 } }), /retention\.curatedDays/],
    ['fractional quarantine retention', (d) => ({ ...d, retention: { ...d.retention, quarantineDays: 1.5 } }), /retention\.quarantineDays/],
    [
      'personal data in an open dataset',
      (d) => ({
        ...d,
        reading: z.object({ ts: eventTime(), owner_name: z.string() }),
        governance: { ...d.governance, personalData: ['owner_name'] },
      }),
      /"bike_parking": holds personal data \(owner_name\) and so cannot be classified open/,
    ],
    [
      'a personal-data field that is not in the reading',
      (d) => ({ ...d, governance: { ...d.governance, classification: 'closed', personalData: ['plate'] } }),
      /personal-data field "plate" is not a field/,
    ],
    ['an id that is not snake_case', (d) => ({ ...d, id: 'Bike-Parking' }), /"Bike-Parking": id must be snake_case/],
    ['a field that is not snake_case', (d) => ({ ...d, reading: z.object({ ts: eventTime(), freePlaces: z.number() }) }), /field "freePlaces" must be snake_case/],
    ['a reading without ts', (d) => ({ ...d, reading: z.object({ free: z.number() }) }), /must have a required "ts" field/],
    ['a ts that is not an ISO time', (d) => ({ ...d, reading: z.object({ ts: z.string(), free: z.number() }) }), /field "ts" must be eventTime/],
    ['a nested field', (d) => ({ ...d, reading: z.object({ ts: eventTime(), pos: z.object({ lat: z.number() }) }) }), /field "pos" has an unsupported type/],
    ['a field named like an envelope column', (d) => ({ ...d, reading: z.object({ ts: eventTime(), sensor_id: z.string() }) }), /field "sensor_id" is reserved/],
    ['a missing Dutch title', (d) => ({ ...d, nl: { ...d.nl, title: '' } }), /"bike_parking": nl\.title and nl\.description are missing/],
    ['a missing purpose', (d) => ({ ...d, governance: { ...d.governance, purpose: '' } }), /"bike_parking": governance\.purpose is missing/],
    [
      'thresholds that do not ascend',
      (d) => ({ ...d, reading: z.object({ ts: eventTime(), free: z.number().meta({ thresholds: { basis: 'b', bands: [{ below: 9, level: 'good', label: { en: 'a', nl: 'a' } }, { below: 3, level: 'poor', label: { en: 'b', nl: 'b' } }, { level: 'poor', label: { en: 'c', nl: 'c' } }] } }) }) }),
      /field "free" thresholds: the bands must ascend/,
    ],
    [
      'thresholds whose last band is bounded',
      (d) => ({ ...d, reading: z.object({ ts: eventTime(), free: z.number().meta({ thresholds: { basis: 'b', bands: [{ below: 3, level: 'good', label: { en: 'a', nl: 'a' } }, { below: 9, level: 'poor', label: { en: 'b', nl: 'b' } }] } }) }) }),
      /the last band has no upper bound/,
    ],
    [
      'thresholds on a text field',
      (d) => ({ ...d, reading: z.object({ ts: eventTime(), note: z.string().meta({ thresholds: { basis: 'b', bands: [] } }) }) }),
      /field "note" thresholds: only a numeric field/,
    ],
    ['a theme outside the EU data themes', (d) => ({ ...d, themes: ['MOBI' as never] }), /"bike_parking": theme "MOBI" is not an EU data theme: one of AGRI,/],
    ['an unknown classification', (d) => ({ ...d, governance: { ...d.governance, classification: 'public' as never } }), /classification must be one of open, shared, closed/],
  ];
  it.each(cases)('%s', (_name, change, message) => {
    expect(() => defineDataset(change(base()))).toThrow(message);
  });

  it('accepts the valid base definition', () => {
    expect(defineDataset(base()).fields.map((f) => f.name)).toEqual(['ts', 'free']);
  });

  it('refuses a duplicate id in the registry', () => {
    const one = defineDataset(base());
    expect(() => checkRegistry([one, one])).toThrow(/dataset "bike_parking": declared twice/);
  });
});

describe('update frequencies', () => {
  it('are ISO 8601 durations in seconds', async () => {
    const { durationSeconds } = await import('../../datasets/index.ts');
    expect(durationSeconds('PT10M')).toBe(600);
    expect(durationSeconds('P1DT1H')).toBe(90_000);
    expect(durationSeconds('PT1S')).toBe(1);
    expect(durationSeconds('10 minutes')).toBeUndefined();
    expect(durationSeconds('PT')).toBeUndefined();
    expect(durationSeconds('P0D')).toBeUndefined();
  });

  it('are checked when a dataset is defined', () => {
    expect(() => defineDataset({ ...base(), governance: { ...base().governance, updateFrequency: 'every minute' } })).toThrow(
      /"bike_parking": governance.updateFrequency must be an ISO 8601 duration/,
    );
  });
});
