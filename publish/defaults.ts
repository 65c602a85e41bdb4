/** The portal's settings unless told otherwise; light, so the CDK app reads them without the portal's engine. */
import { DEMO_CITY } from '../local/city.ts';

/** Who the portal names as its publisher and contact unless told otherwise: the demo city and an example mailbox. */
export const PORTAL_DEFAULTS = Object.freeze({ publisher: `Stad ${DEMO_CITY.name}`, contactEmail: 'opendata@stad.example.be' });
