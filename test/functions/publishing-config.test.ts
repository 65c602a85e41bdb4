import { describe, expect, it } from 'vitest';
import { PublishingConfigError, PUBLISHING_ENV, readPublishingConfig } from '../../functions/publish/config.ts';
import { PORTAL_DEFAULTS } from '../../publish/defaults.ts';

const env = { [PUBLISHING_ENV.curatedBucket]: 'curated', [PUBLISHING_ENV.portalBucket]: 'portal', [PUBLISHING_ENV.baseUrl]: 'https://d1234.cloudfront.net' };

describe('the publishing function’s configuration', () => {
  it('reads the buckets and the portal’s address, ending it with a slash, with the portal’s defaults for the rest', () => {
    expect(readPublishingConfig(env)).toEqual({
      curatedBucket: 'curated',
      portalBucket: 'portal',
      baseUrl: 'https://d1234.cloudfront.net/',
      publisher: PORTAL_DEFAULTS.publisher,
      contactEmail: PORTAL_DEFAULTS.contactEmail,
      duckdbMemoryMb: 512,
    });
  });

  it('fails fast naming every variable that is missing or wrong: a plain-HTTP address, a contact that is no mailbox', () => {
    expect(() => readPublishingConfig({})).toThrow(PublishingConfigError);
    expect(() => readPublishingConfig({})).toThrow(/CURATED_BUCKET.*PORTAL_BUCKET.*PORTAL_BASE_URL/);
    const wrong = { ...env, [PUBLISHING_ENV.baseUrl]: 'http://d1234.cloudfront.net/', [PUBLISHING_ENV.contactEmail]: 'opendata' };
    expect(() => readPublishingConfig(wrong)).toThrow(/PORTAL_BASE_URL .*; PORTAL_CONTACT_EMAIL /);
  });
});
