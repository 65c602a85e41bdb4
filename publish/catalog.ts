/**
 * The open-data catalog in DCAT-AP Vlaanderen, generated from the registry
 * and from what the data holds (its days, its time span, where its sensors
 * stand): one dcat:Catalog, a dcat:Dataset per open dataset with Dutch and
 * English titles and descriptions, publisher, contact point, licence,
 * update frequency, keywords and themes, and its distributions (a CSV and a
 * Parquet file per day, its sensors' places, and the SQL of its views over
 * those files). One list of quads, written as Turtle and as JSON-LD, so both
 * say the same.
 */
import { DataFactory, Writer, type BlankNode, type NamedNode, type Quad, type Quad_Object } from 'n3';
import { durationSeconds, type Dataset } from '../datasets/index.ts';

const { namedNode, literal, blankNode, quad } = DataFactory;

/** The vocabularies the catalog uses, by prefix. */
export const PREFIXES = {
  dcat: 'http://www.w3.org/ns/dcat#',
  dct: 'http://purl.org/dc/terms/',
  foaf: 'http://xmlns.com/foaf/0.1/',
  vcard: 'http://www.w3.org/2006/vcard/ns#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  gsp: 'http://www.opengis.net/ont/geosparql#',
} as const;

/** A term of one of the catalog's vocabularies. */
export const term = (prefix: keyof typeof PREFIXES, local: string): NamedNode => namedNode(`${PREFIXES[prefix]}${local}`);

/** The EU Publications Office's authority tables (frequency, data theme, file type, language, access right). */
export const EU_AUTHORITY = 'http://publications.europa.eu/resource/authority/';
/** Where IANA lists media types; DCAT-AP names a distribution's media type by this IRI. */
export const IANA_MEDIA_TYPES = 'https://www.iana.org/assignments/media-types/';
const PUBLISHER_TYPE_LOCAL_AUTHORITY = 'http://purl.org/adms/publishertype/LocalAuthority';

/** Licences the catalog can name by URI; an open dataset under another licence cannot be published. */
export const LICENCE_URIS: Readonly<Record<string, string>> = {
  'Modellicentie Gratis Hergebruik Vlaanderen v1.0': 'https://data.vlaanderen.be/id/licentie/modellicentie-gratis-hergebruik/v1.0',
  CC0: 'https://creativecommons.org/publicdomain/zero/1.0/',
  'CC BY 4.0': 'https://creativecommons.org/licenses/by/4.0/',
};

/** The catalog's own licence (its metadata): the Flemish model licence for free reuse. */
export const CATALOG_LICENCE = 'Modellicentie Gratis Hergebruik Vlaanderen v1.0';

/** An open dataset the catalog cannot describe; the message says what to add. */
export class CatalogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatalogError';
  }
}

/** The EU frequency vocabulary's named intervals, in seconds. */
const FREQUENCIES: Readonly<Record<number, string>> = {
  60: '1MIN',
  300: '5MIN',
  600: '10MIN',
  900: '15MIN',
  1800: '30MIN',
  3600: 'HOURLY',
  43_200: '12HRS',
  86_400: 'DAILY',
  604_800: 'WEEKLY',
};

/** The EU frequency vocabulary's term for an update frequency (ISO 8601 duration); continuous for any other interval. */
export function frequencyUri(updateFrequency: string): string {
  const seconds = durationSeconds(updateFrequency);
  return `${EU_AUTHORITY}frequency/${(seconds === undefined ? undefined : FREQUENCIES[seconds]) ?? 'UPDATE_CONT'}`;
}

/** What kind of file a distribution is. */
export type DistributionFormat = 'CSV' | 'PARQUET' | 'SQL';

/** The media type of each format, as IANA registers it. */
export const MEDIA_TYPES: Readonly<Record<DistributionFormat, string>> = {
  CSV: 'text/csv',
  PARQUET: 'application/vnd.apache.parquet',
  SQL: 'application/sql',
};

/** What a file of a distribution holds. */
export type DistributionContent = { readonly kind: 'day'; readonly day: string; readonly rows: number } | { readonly kind: 'places'; readonly rows: number } | { readonly kind: 'views' };

/** One file of a distribution. */
export interface DistributionFile {
  /** Path in the portal, relative to its root (e.g. data/air_quality/air_quality-2026-11-29.csv). */
  readonly path: string;
  readonly format: DistributionFormat;
  readonly bytes: number;
  readonly content: DistributionContent;
}

/** A bounding box in WGS 84 degrees. */
export interface BoundingBox {
  readonly minLon: number;
  readonly minLat: number;
  readonly maxLon: number;
  readonly maxLat: number;
}

/** What the data of one dataset holds, for its coverage and distributions. */
export interface DatasetFacts {
  readonly dataset: Dataset;
  readonly files: readonly DistributionFile[];
  /** First and last event time (ISO 8601), when there are readings. */
  readonly temporal?: { readonly start: string; readonly end: string };
  /** Bounding box of its sensors' places, when they have any. */
  readonly bbox?: BoundingBox;
}

/** Who publishes the catalog, and where. */
export interface CatalogOptions {
  /** Where the portal is served: the catalog's and its distributions' IRIs start with it. */
  readonly baseUrl: string;
  /** The city, e.g. Stad Gent. */
  readonly publisher: string;
  /** The mailbox the catalog's own questions go to. */
  readonly contactEmail: string;
  readonly modified: Date;
}

/** The base URL with one trailing slash. */
export function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** What a distribution file is called in the catalog, in Dutch and English. */
function distributionTitle(dataset: Dataset, file: DistributionFile): { nl: string; en: string } {
  switch (file.content.kind) {
    case 'day':
      return { nl: `${dataset.nl.title}: metingen van ${file.content.day} (${file.format})`, en: `${dataset.title}: readings of ${file.content.day} (${file.format})` };
    case 'places':
      return { nl: `${dataset.nl.title}: plaatsen van de sensoren (${file.format})`, en: `${dataset.title}: places of the sensors (${file.format})` };
    case 'views':
      return { nl: `${dataset.nl.title}: SQL-views over de Parquet-bestanden (DuckDB)`, en: `${dataset.title}: SQL views over the Parquet files (DuckDB)` };
  }
}

/** The catalog as RDF/JS quads. Throws {@link CatalogError} for a dataset that is not open or whose licence has no known URI. */
export function catalogQuads(facts: readonly DatasetFacts[], options: CatalogOptions): Quad[] {
  const base = withSlash(options.baseUrl);
  const quads: Quad[] = [];
  const add = (s: NamedNode | BlankNode, p: NamedNode, o: Quad_Object) => quads.push(quad(s, p, o));
  const a = term('rdf', 'type');
  const dateTime = (text: string) => literal(text, term('xsd', 'dateTime'));
  const modified = dateTime(options.modified.toISOString());
  const both = (s: NamedNode | BlankNode, p: NamedNode, text: { nl: string; en: string }) => {
    add(s, p, literal(text.nl, 'nl'));
    add(s, p, literal(text.en, 'en'));
  };
  const licences = new Set<string>();
  const licence = (uri: string) => {
    licences.add(uri);
    return namedNode(uri);
  };
  const contact = (node: BlankNode, name: string, email: string) => {
    add(node, a, term('vcard', 'Organization'));
    add(node, term('vcard', 'fn'), literal(name));
    add(node, term('vcard', 'hasEmail'), namedNode(`mailto:${email}`));
    return node;
  };

  const catalog = namedNode(`${base}catalog`);
  const publisher = namedNode(`${base}publisher`);
  add(publisher, a, term('foaf', 'Agent'));
  add(publisher, a, term('foaf', 'Organization'));
  add(publisher, term('foaf', 'name'), literal(options.publisher, 'nl'));
  add(publisher, term('dct', 'type'), namedNode(PUBLISHER_TYPE_LOCAL_AUTHORITY));
  add(catalog, a, term('dcat', 'Catalog'));
  add(catalog, term('dct', 'identifier'), literal(`${base}catalog`));
  both(catalog, term('dct', 'title'), { nl: `Open data van ${options.publisher}: sensordata`, en: `Open data of ${options.publisher}: sensor data` });
  both(catalog, term('dct', 'description'), {
    nl: 'Metingen van de sensoren van de stad, per dag als CSV en Parquet, met de plaatsen van de sensoren en SQL-views.',
    en: "Readings of the city's sensors, per day as CSV and Parquet, with the sensors' places and SQL views.",
  });
  add(catalog, term('dct', 'publisher'), publisher);
  add(catalog, term('foaf', 'homepage'), namedNode(`${base}index.html`));
  add(catalog, term('dct', 'language'), namedNode(`${EU_AUTHORITY}language/NLD`));
  add(catalog, term('dct', 'license'), licence(LICENCE_URIS[CATALOG_LICENCE] ?? ''));
  add(catalog, term('dct', 'modified'), modified);
  add(catalog, term('dcat', 'contactPoint'), contact(blankNode('catalog-contact'), options.publisher, options.contactEmail));

  for (const { dataset, files, temporal, bbox } of facts) {
    const g = dataset.governance;
    if (g.classification !== 'open') throw new CatalogError(`dataset "${dataset.id}" is ${g.classification}: only open datasets are published`);
    const licenceUri = LICENCE_URIS[g.licence];
    if (!licenceUri) throw new CatalogError(`dataset "${dataset.id}": licence "${g.licence}" has no URI the catalog knows; add it to LICENCE_URIS in publish/catalog.ts`);
    const node = namedNode(`${base}dataset/${dataset.id}`);
    add(catalog, term('dcat', 'dataset'), node);
    add(node, a, term('dcat', 'Dataset'));
    add(node, term('dct', 'identifier'), literal(`${base}dataset/${dataset.id}`));
    both(node, term('dct', 'title'), { nl: dataset.nl.title, en: dataset.title });
    both(node, term('dct', 'description'), { nl: dataset.nl.description, en: dataset.description });
    add(node, term('dct', 'publisher'), publisher);
    add(node, term('dcat', 'contactPoint'), contact(blankNode(`contact-${dataset.id}`), g.owner, g.steward));
    add(node, term('dct', 'accessRights'), namedNode(`${EU_AUTHORITY}access-right/PUBLIC`));
    add(node, term('dct', 'accrualPeriodicity'), namedNode(frequencyUri(g.updateFrequency)));
    add(node, term('dcat', 'temporalResolution'), literal(g.updateFrequency, term('xsd', 'duration')));
    add(node, term('dcat', 'landingPage'), namedNode(`${base}index.html#${dataset.id}`));
    const standard = blankNode(`standard-${dataset.id}`);
    add(standard, a, term('dct', 'Standard'));
    add(standard, term('dct', 'title'), literal(g.standard));
    add(node, term('dct', 'conformsTo'), standard);
    for (const theme of dataset.themes ?? []) add(node, term('dcat', 'theme'), namedNode(`${EU_AUTHORITY}data-theme/${theme}`));
    for (const keyword of dataset.keywords) add(node, term('dcat', 'keyword'), literal(keyword));
    if (temporal) {
      const period = blankNode(`period-${dataset.id}`);
      add(period, a, term('dct', 'PeriodOfTime'));
      add(period, term('dcat', 'startDate'), dateTime(temporal.start));
      add(period, term('dcat', 'endDate'), dateTime(temporal.end));
      add(node, term('dct', 'temporal'), period);
    }
    if (bbox) {
      const location = blankNode(`location-${dataset.id}`);
      add(location, a, term('dct', 'Location'));
      add(location, term('dcat', 'bbox'), literal(bboxWkt(bbox), term('gsp', 'wktLiteral')));
      add(node, term('dct', 'spatial'), location);
    }
    for (const file of files) {
      const url = namedNode(`${base}${file.path}`);
      const distribution = namedNode(`${base}${file.path}#distribution`);
      add(node, term('dcat', 'distribution'), distribution);
      add(distribution, a, term('dcat', 'Distribution'));
      both(distribution, term('dct', 'title'), distributionTitle(dataset, file));
      add(distribution, term('dcat', 'accessURL'), url);
      add(distribution, term('dcat', 'downloadURL'), url);
      add(distribution, term('dcat', 'mediaType'), namedNode(`${IANA_MEDIA_TYPES}${MEDIA_TYPES[file.format]}`));
      add(distribution, term('dct', 'format'), namedNode(`${EU_AUTHORITY}file-type/${file.format}`));
      add(distribution, term('dct', 'license'), licence(licenceUri));
      add(distribution, term('dcat', 'byteSize'), literal(String(file.bytes), term('xsd', 'nonNegativeInteger')));
      add(distribution, term('dct', 'modified'), modified);
    }
  }
  for (const uri of licences) add(namedNode(uri), a, term('dct', 'LicenseDocument'));
  return quads;
}

/** A bounding box as a WKT polygon in longitude-latitude order (CRS84), as GeoSPARQL's wktLiteral reads it. */
export function bboxWkt({ minLon, minLat, maxLon, maxLat }: BoundingBox): string {
  return `POLYGON((${minLon} ${minLat}, ${maxLon} ${minLat}, ${maxLon} ${maxLat}, ${minLon} ${maxLat}, ${minLon} ${minLat}))`;
}

/** The catalog as Turtle, each subject's statements together (in the order subjects first appear). */
export function catalogTurtle(quads: readonly Quad[]): Promise<string> {
  const bySubject = new Map<string, Quad[]>();
  for (const q of quads) {
    const key = `${q.subject.termType}:${q.subject.value}`;
    bySubject.set(key, [...(bySubject.get(key) ?? []), q]);
  }
  const writer = new Writer({ prefixes: PREFIXES });
  writer.addQuads([...bySubject.values()].flat());
  return new Promise((resolve, reject) => writer.end((error, result: string) => (error ? reject(error) : resolve(result))));
}

type JsonLdValue = { '@id': string } | { '@value': string; '@language'?: string; '@type'?: string };

interface JsonLdNode {
  '@id': string;
  '@type': string[];
  properties: Map<string, JsonLdValue[]>;
}

/** The catalog as JSON-LD: a @graph of nodes, one per subject, with full IRIs and the prefixes in the context. */
export function catalogJsonLd(quads: readonly Quad[]): Record<string, unknown> {
  const nodes = new Map<string, JsonLdNode>();
  const id = (t: { termType: string; value: string }) => (t.termType === 'BlankNode' ? `_:${t.value}` : t.value);
  for (const q of quads) {
    const subject = id(q.subject);
    let node = nodes.get(subject);
    if (!node) {
      node = { '@id': subject, '@type': [], properties: new Map() };
      nodes.set(subject, node);
    }
    if (q.predicate.value === `${PREFIXES.rdf}type`) {
      node['@type'].push(q.object.value);
      continue;
    }
    const o = q.object;
    const value: JsonLdValue =
      o.termType === 'Literal'
        ? { '@value': o.value, ...(o.language ? { '@language': o.language } : o.datatype.value === `${PREFIXES.xsd}string` ? {} : { '@type': o.datatype.value }) }
        : { '@id': id(o) };
    node.properties.set(q.predicate.value, [...(node.properties.get(q.predicate.value) ?? []), value]);
  }
  const graph = [...nodes.values()].map((n) => ({ '@id': n['@id'], ...(n['@type'].length > 0 ? { '@type': n['@type'] } : {}), ...Object.fromEntries(n.properties) }));
  return { '@context': PREFIXES, '@graph': graph };
}
