/**
 * Pull sources: APIs the platform polls on a schedule, each feeding one
 * dataset in one format. Declared here, beside the datasets, so the local
 * runtime (`datastroom dev --pull <id>`) and the stack's scheduled function
 * poll the same URLs with the same cursor rules.
 */
import { DatasetDefinitionError, durationSeconds } from './define.ts';
import { findDataset } from './registry.ts';

/** The APIs the poller speaks: how a window becomes requests, and what in an answer is one reading. */
export type PullProtocol = 'telraam' | 'irceline-sos' | 'opendatasoft';

/** Where a pull source's credentials come from, and how they are sent. */
export interface PullCredentials {
  /** The request header carrying the key, e.g. X-Api-Key. */
  readonly header: string;
  /**
   * The secret's name: locally the environment variable
   * DATASTROOM_SECRET_<NAME> (upper case, - as _) or the file
   * <data-dir>/state/secrets/<name>; on AWS the Secrets Manager secret
   * datastroom/<env>/pull/<name>.
   */
  readonly secret: string;
}

/** What a pull source declares. */
export interface PullSource {
  /** Also its name in the raw envelope (`via: pull:<id>`): a thing-name-safe word. */
  readonly id: string;
  readonly title: string;
  readonly datasetId: string;
  /** The format its answers are mapped with. */
  readonly format: string;
  readonly protocol: PullProtocol;
  /** The API's URL: the endpoint (Telraam, Opendatasoft records) or the API root (IRCELINE SOS). */
  readonly url: string;
  /** How often it is polled, as an ISO 8601 duration (PT1H). */
  readonly schedule: string;
  /**
   * How far before its cursor each poll reaches again, as an ISO 8601
   * duration: readings the API publishes late, or corrects, are fetched
   * again (and removed as duplicates where unchanged).
   */
  readonly overlap: string;
  /** How far back the first poll reaches, as an ISO 8601 duration. */
  readonly lookback: string;
  /**
   * What the protocol polls: Telraam segment ids; IRCELINE SOS timeseries
   * ids of one station (its pollutants become one reading per time); none
   * for Opendatasoft (every record). @default - none
   */
  readonly ids?: readonly string[];
  /** For IRCELINE SOS: the station the timeseries belong to, the readings' sensor id. @default - none */
  readonly station?: string;
  /** @default - no credentials */
  readonly credentials?: PullCredentials;
}

const ID = /^[a-z][a-z0-9-]{0,63}$/;

/** Checks a pull source's declaration; throws DatasetDefinitionError naming its dataset. */
export function definePullSource(source: PullSource): PullSource {
  const problem = (text: string) => new DatasetDefinitionError(source.datasetId, `pull source "${source.id}": ${text}`);
  if (!ID.test(source.id)) throw problem('id must be lower case letters, digits and -, starting with a letter');
  if (!findDataset(source.datasetId)) throw problem(`no dataset "${source.datasetId}" in the register`);
  for (const key of ['schedule', 'overlap', 'lookback'] as const) {
    if (durationSeconds(source[key]) === undefined) throw problem(`${key} "${source[key]}" is not an ISO 8601 duration such as PT1H`);
  }
  if (!/^https?:\/\//.test(source.url)) throw problem(`url "${source.url}" is not http(s)`);
  if (source.protocol !== 'opendatasoft' && (source.ids ?? []).length === 0) throw problem(`a ${source.protocol} source lists the ids it polls`);
  if (source.protocol === 'irceline-sos' && source.station === undefined) throw problem('an IRCELINE SOS source names its station');
  return Object.freeze({ ...source });
}

/**
 * The pull sources the platform knows. None is polled unless asked for:
 * `datastroom dev --pull <id>` locally, the stack's `pullSources` context on AWS.
 */
export const pullSources: readonly PullSource[] = Object.freeze([
  definePullSource({
    id: 'telraam',
    title: 'Telraam traffic counts per road segment, hourly',
    datasetId: 'traffic_count',
    format: 'telraam-traffic',
    protocol: 'telraam',
    url: 'https://telraam-api.net/v1/reports/traffic',
    schedule: 'PT1H',
    overlap: 'PT3H',
    lookback: 'P1D',
    // Replace with the segments of the city's own Telraam devices (telraam.net shows a segment's id in its address).
    ids: ['9000001463'],
    credentials: { header: 'X-Api-Key', secret: 'telraam' },
  }),
  definePullSource({
    id: 'irceline',
    title: 'IRCEL-CELINE air quality, one station (SOS timeseries API)',
    datasetId: 'air_quality',
    format: 'irceline-sos',
    protocol: 'irceline-sos',
    url: 'https://geo.irceline.be/sos/api/v1',
    schedule: 'PT1H',
    overlap: 'PT3H',
    lookback: 'P1D',
    // Replace with one station's PM10, PM2.5 and NO2 series: /timeseries?station=<id> lists a station's series.
    station: '44R701',
    ids: ['6152', '6153', '6154'],
  }),
  definePullSource({
    id: 'gent-parking',
    title: 'Gent parking garage occupancy (Opendatasoft, data.stad.gent)',
    datasetId: 'parking_occupancy',
    format: 'opendatasoft-parking',
    protocol: 'opendatasoft',
    url: 'https://data.stad.gent/api/explore/v2.1/catalog/datasets/bezetting-parkeergarages-real-time/records',
    schedule: 'PT5M',
    overlap: 'PT15M',
    lookback: 'PT1H',
  }),
]);

/** The pull source with this id, or undefined. */
export function findPullSource(id: string): PullSource | undefined {
  return pullSources.find((s) => s.id === id);
}
