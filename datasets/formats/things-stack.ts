/**
 * The Things Stack (v3) uplink messages, as its webhooks, MQTT integration
 * and storage deliver them. The reading is what the device's payload
 * formatter wrote into `uplink_message.decoded_payload`; where no formatter
 * is set, only the base64 `frm_payload` arrives, read by the byte layout the
 * dataset declares (or quarantined). The time is the Network Server's
 * `uplink_message.received_at` (see the README: network times).
 */
import { defineFormat, type ByteField, type FieldSource, type FormatDeclaration } from './define.ts';
import { keyStep } from './fiware.ts';

/** The format id. */
export const THINGS_STACK_FORMAT = 'ttn-v3';

const DECODED = 'uplink_message.decoded_payload';

/** What a dataset reads from an uplink. */
export interface ThingsStackUplink {
  /** Per field: the keys the payload formatter writes (the first present wins), and their unit where not the field's. */
  readonly fields: Readonly<Record<string, { readonly key: string | readonly string[]; readonly unit?: string }>>;
  /**
   * The byte layout of `frm_payload` for devices without a payload formatter, by the keys above.
   * @default - none: such uplinks are quarantined with a reason
   */
  readonly layout?: readonly ByteField[];
}

/** The Things Stack uplink format of a dataset. */
export function thingsStackUplink(spec: ThingsStackUplink): FormatDeclaration {
  const fields: Record<string, FieldSource> = {};
  for (const [name, { key, unit }] of Object.entries(spec.fields)) {
    fields[name] = { path: (typeof key === 'string' ? [key] : key).map((k) => `${DECODED}.${keyStep(k)}`), ...(unit !== undefined ? { unit } : {}) };
  }
  return defineFormat({
    id: THINGS_STACK_FORMAT,
    title: 'The Things Stack v3 uplink message',
    recognise: [
      { path: 'end_device_ids.device_id', is: 'string' },
      { path: 'uplink_message', is: 'object' },
    ],
    sensorId: 'end_device_ids.device_id',
    // The Network Server's reception time: set on every uplink, from one clock (see the README).
    time: { path: ['uplink_message.received_at', 'received_at'], zone: 'UTC' },
    fields,
    bytes: {
      path: 'uplink_message.frm_payload',
      unless: DECODED,
      ...(spec.layout !== undefined ? { layout: spec.layout } : {}),
      advice: 'set a payload formatter for the device in The Things Stack, or declare the byte layout in the dataset',
    },
  });
}
