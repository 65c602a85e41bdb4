/**
 * FIWARE Smart Data Models in their four shapes: NGSI-v2 keyValues and
 * normalized, NGSI-LD concise and normalized. One declaration of which
 * attribute gives which field yields all four; entities come one per message,
 * in an array, or many in a notification (Orion's and NGSI-LD's `data`, a
 * batch update's `entities`).
 */
import { defineFormat, type Condition, type FieldSource, type FormatDeclaration, type Path } from './define.ts';

/** A field from an entity attribute (the first of several names present). */
export interface AttributeSource {
  readonly attribute: string | readonly string[];
  /**
   * The unit the attribute is in where the entity names none (no `unitCode`).
   * @default - the field's own unit
   */
  readonly unit?: string;
  /** @default - the value is taken as it is (see FieldPath.values) */
  readonly values?: Readonly<Record<string, number | string | boolean>>;
}

/** What a dataset reads from one entity type. */
export interface SmartDataModel {
  /** The entity type, e.g. AirQualityObserved. */
  readonly type: string;
  /** Attributes holding the observation time, first present wins; an interval (start/end) counts by its end. */
  readonly time: string | readonly string[];
  /**
   * Where the entity carries no time (a container's state as it is now), its arrival time is its time.
   * @default false
   */
  readonly orArrival?: boolean;
  /** @default 'Europe/Brussels' */
  readonly zone?: string;
  readonly fields: Readonly<Record<string, AttributeSource | { readonly constant: number | string | boolean }>>;
  /** @default - none */
  readonly compute?: FormatDeclaration['compute'];
}

/** A key as a path step: quoted where a dot or a bracket would split it. */
export function keyStep(key: string): Path {
  return /[.[\]]/.test(key) ? `["${key}"]` : key;
}

const list = (v: string | readonly string[]): readonly string[] => (typeof v === 'string' ? [v] : v);

/** Where an attribute's value is, in every shape: normalized (`value`), LD typed (`@value`), plain. */
function valuePaths(attributes: readonly string[]): Path[] {
  return attributes.flatMap((a) => [`${keyStep(a)}.value.@value`, `${keyStep(a)}.value`, `${keyStep(a)}.@value`, keyStep(a)]);
}

/** NGSI-v2 normalized names the unit in `metadata.unitCode.value`, NGSI-LD in `unitCode`. */
function unitPaths(attributes: readonly string[]): Path[] {
  return attributes.flatMap((a) => [`${keyStep(a)}.metadata.unitCode.value`, `${keyStep(a)}.unitCode`]);
}

/** Notifications and batch updates that carry many entities. */
const CONTAINERS = [
  { path: 'data', when: [{ path: 'subscriptionId', is: 'string' as const }] },
  { path: 'entities', when: [{ path: 'actionType', is: 'string' as const }] },
];

/** The format ids of the four shapes. */
export const NGSI_FORMATS = {
  ldNormalized: 'ngsi-ld-normalized',
  ldConcise: 'ngsi-ld-concise',
  v2Normalized: 'ngsi-v2-normalized',
  v2KeyValues: 'ngsi-v2-keyvalues',
} as const;

/**
 * The four NGSI shapes of one Smart Data Model, in the order they are
 * recognised: NGSI-LD normalized (its time attribute is a `Property`),
 * NGSI-LD concise (an `@context`, or `urn:ngsi-ld:` id, without that), NGSI-v2
 * normalized (attributes are objects), NGSI-v2 keyValues (plain values).
 */
export function smartDataModel(model: SmartDataModel): FormatDeclaration[] {
  const times = list(model.time);
  const fields: Record<string, FieldSource> = {};
  for (const [name, source] of Object.entries(model.fields)) {
    if ('constant' in source) {
      fields[name] = source;
      continue;
    }
    const attributes = list(source.attribute);
    fields[name] = {
      path: valuePaths(attributes),
      unitPath: unitPaths(attributes),
      ...(source.unit !== undefined ? { unit: source.unit } : {}),
      ...(source.values !== undefined ? { values: source.values } : {}),
    };
  }
  const time = { path: valuePaths(times), zone: model.zone, orArrival: model.orArrival };
  const ofType: Condition = { path: 'type', equals: model.type };
  const attributes = [...times, ...Object.values(model.fields).flatMap((f) => ('attribute' in f ? list(f.attribute) : []))].map(keyStep);
  const shape = (id: string, title: string, recognise: Condition[]): FormatDeclaration =>
    defineFormat({ id, title, recognise: [ofType, ...recognise], items: CONTAINERS, sensorId: 'id', time, fields, ...(model.compute ? { compute: model.compute } : {}) });
  return [
    shape(NGSI_FORMATS.ldNormalized, `${model.type}, NGSI-LD normalized`, [{ path: attributes.map((a) => `${a}.type`), equals: 'Property' }]),
    shape(NGSI_FORMATS.ldConcise, `${model.type}, NGSI-LD concise`, [{ path: '@context' }]),
    shape(NGSI_FORMATS.v2Normalized, `${model.type}, NGSI-v2 normalized`, [{ path: attributes, is: 'object' }]),
    shape(NGSI_FORMATS.v2KeyValues, `${model.type}, NGSI-v2 keyValues`, [{ path: 'id', is: 'string' }]),
  ];
}

/** An attribute's value in any of the four shapes, or undefined. */
export function attributeValue(entity: unknown, attribute: string): unknown {
  for (const path of valuePaths([attribute])) {
    let at: unknown = entity;
    for (const key of path.replace(/^\["(.*)"\]/, '$1').split('.')) {
      at = typeof at === 'object' && at !== null && !Array.isArray(at) ? (at as Record<string, unknown>)[key] : undefined;
    }
    if (at !== undefined && at !== null && (typeof at !== 'object' || Array.isArray(at))) return at;
  }
  return undefined;
}
