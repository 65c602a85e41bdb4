/**
 * Input formats: how a dataset reads payloads that are not its own flat JSON
 * (a FIWARE entity, a LoRaWAN uplink, a citizen sensor's report). A format
 * is a declaration: where the readings are in a message, how to recognise
 * one, and where its sensor id, its time and each field come from, in which
 * unit. The engine that applies them is functions/core/formats.ts.
 */

/** Id of the platform's own format: one flat JSON reading (or an array of them) with the dataset's fields. */
export const NATIVE_FORMAT = 'datastroom';

/**
 * A place in a payload: keys separated by dots, then any number of
 * selectors: `[2]` (an array element), `["a key.with dots"]` (a key a dot
 * would split), `[value_type=P1]` (the first array element whose
 * `value_type` is `P1`). Keys may hold spaces: `decoded_payload.PM 2.5`.
 */
export type Path = string;

/** One path, or several tried in order: the first that is present counts. */
export type Paths = Path | readonly Path[];

/** A test on a payload that recognises a format; all of a format's conditions must hold. */
export interface Condition {
  /** Where to look; of several, the first that is present is the one tested. */
  readonly path: Paths;
  /**
   * What must be there: a JSON type, `present` (anything but null), or `absent`.
   * @default 'present'
   */
  readonly is?: 'string' | 'number' | 'object' | 'array' | 'present' | 'absent';
  /**
   * The value (or one of the values) it must equal.
   * @default - any value of the type
   */
  readonly equals?: string | number | boolean | readonly (string | number | boolean)[];
}

/** Where a reading's field comes from: a place in the payload, or a constant. */
export type FieldSource = FieldPath | { readonly constant: number | string | boolean };

/** A field read from the payload. */
export interface FieldPath {
  readonly path: Paths;
  /**
   * The unit the value is in, as a UN/CEFACT code (`GQ`) or a unit name
   * (`mg/m³`) from the unit table (datasets/formats/units.ts).
   * @default - the field's own unit: the value is taken as it is
   */
  readonly unit?: string;
  /**
   * Where the payload names the value's unit itself (an NGSI `unitCode`);
   * when present, it overrides `unit`.
   * @default - the unit is `unit`
   */
  readonly unitPath?: Paths;
  /**
   * Whether a number sent as text (`"12.5"`) is read as the number. Text
   * that is not a plain decimal number is refused.
   * @default false
   */
  readonly numberText?: boolean;
  /**
   * A table from the text found to the field's value (a parking spot's
   * `"free"` to 1 free space); text not in it is refused.
   * @default - the value is taken as it is
   */
  readonly values?: Readonly<Record<string, number | string | boolean>>;
}

/** Where a reading's event time comes from. */
export interface TimeSource {
  /** Where the time is; a text interval (`start/end`, as FIWARE's dateObserved may be) counts by its end. */
  readonly path: Paths;
  /**
   * The IANA time zone a time without offset is in.
   * @default 'Europe/Brussels' ({@link DEFAULT_SENSOR_ZONE})
   */
  readonly zone?: string;
  /**
   * How a number is read: seconds or milliseconds since the epoch.
   * @default - a number is refused; times are ISO 8601 text
   */
  readonly epoch?: 'seconds' | 'milliseconds';
  /**
   * Where no path is present, the reading's time is its arrival time: for
   * feeds that send a reading as it is measured and carry no time of their own.
   * @default false
   */
  readonly orArrival?: boolean;
  /**
   * A field of the reading, in seconds, that the time read is the start of:
   * the reading's time is then that interval's end (Telraam's `date` opens
   * the hour its counts cover, while a count's `ts` closes its interval).
   * @default - the time is taken as read
   */
  readonly startOf?: string;
}

/** The zone a city's sensor that sends local time without an offset is taken to be in. */
export const DEFAULT_SENSOR_ZONE = 'Europe/Brussels';

/** One field of a binary payload, read in the order declared. */
export interface ByteField {
  /** The key it is decoded to, as a payload formatter would have written it under the decoded form. */
  readonly key: string;
  readonly type: 'uint8' | 'int8' | 'uint16be' | 'int16be' | 'uint16le' | 'int16le' | 'uint32be' | 'int32be' | 'uint32le' | 'int32le';
  /**
   * Multiplied into the integer read: 0.1 for a value sent in tenths.
   * @default 1
   */
  readonly scale?: number;
}

/**
 * A binary payload the engine decodes where the payload carries no decoded
 * form: the bytes, read by the layout, become the decoded form, so the
 * fields' paths read them as they read a formatter's output.
 */
export interface BytesSource {
  /** Where the base64 bytes are (`uplink_message.frm_payload`). */
  readonly path: Path;
  /** The decoded form: the bytes are read only where it is absent (`uplink_message.decoded_payload`). */
  readonly unless: Path;
  /**
   * The bytes' layout for this dataset.
   * @default - none: a payload without its decoded form is quarantined, the reason says why
   */
  readonly layout?: readonly ByteField[];
  /** What a user must do where bytes arrive and no layout is declared. */
  readonly advice: string;
}

/** How a multi-reading message holds its readings. */
export interface ItemsSource {
  /** The array of readings (an Orion notification's `data`). */
  readonly path: Path;
  /**
   * What marks such a message.
   * @default - an array at `path`
   */
  readonly when?: readonly Condition[];
}

/** What a declared function is given besides the reading. */
export interface FormatContext {
  /** The dataset's id. */
  readonly datasetId: string;
}

/** One input format of a dataset. */
export interface FormatDeclaration {
  /** Lower-case, digits and dashes; recorded in each curated row's `format` column. */
  readonly id: string;
  /** For people: what sends it. */
  readonly title: string;
  /** What a reading of this format looks like; every condition must hold. */
  readonly recognise: readonly Condition[];
  /**
   * Messages holding several readings, each judged as its own (ids `<messageId>-<i>`).
   * @default - one reading per message (a JSON array payload is still one per element)
   */
  readonly items?: readonly ItemsSource[];
  /**
   * Where the sensor id is. Used only where an integration delivered the
   * message (its raw line has `via`): a sensor publishing on its own topic
   * is the topic's sensor, whatever its payload says.
   * @default - the format names no sensor: it cannot arrive through an integration
   */
  readonly sensorId?: Paths;
  /**
   * How the text at {@link sensorId} becomes an id: as it is, or, for a
   * source that names its sensors for people (a car park's name), with
   * accents dropped and every run of other characters (spaces, `+`, `/`)
   * one dash, so `P+R Bourgoyen` is `P-R-Bourgoyen`. Names differing only
   * there are one sensor.
   * @default 'exact'
   */
  readonly sensorIdFrom?: 'exact' | 'name';
  readonly time: TimeSource;
  /** The dataset's fields, by name, and where each comes from; a field without a source is left empty. */
  readonly fields: Readonly<Record<string, FieldSource>>;
  /**
   * A binary payload to decode where the decoded form is absent.
   * @default - none
   */
  readonly bytes?: BytesSource;
  /**
   * What a reading is de-duplicated by: its message (the message id, with
   * `-<i>` per reading), or its sensor and time (the same reading fetched
   * twice by overlapping polls is one reading).
   * @default 'message'
   */
  readonly identity?: 'message' | 'sensor-time';
  /**
   * Where a declaration cannot say it: values computed from the reading, by
   * field name, in the field's own unit. They take the place of the declared
   * sources of those fields; a string returned is why the reading is refused.
   * @default - none
   */
  readonly compute?: (item: unknown, context: FormatContext) => Readonly<Record<string, unknown>> | string;
}

/** Declares a format; the dataset that lists it checks it against its fields (see defineDataset). */
export function defineFormat(declaration: FormatDeclaration): FormatDeclaration {
  return Object.freeze(declaration);
}
