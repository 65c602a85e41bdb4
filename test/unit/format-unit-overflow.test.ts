/**
 * A value that is a number in its own unit but beyond any number once
 * converted (1e308 as a ratio is Infinity %) is refused by the format engine
 * with the value as it came, rather than travelling on as JSON null.
 */
import { describe, expect, it } from 'vitest';
import { wasteFill } from '../../datasets/waste-fill.ts';
import { mapPayload } from '../../functions/core/formats.ts';

const envelope = { messageId: 'm1', sensorId: 's-1', receivedAt: '2026-11-29T10:00:05.000Z' };
const container = (fillingLevel: number) => ({ id: 'bin-1', type: 'WasteContainer', dateObserved: '2026-11-29T10:00:00Z', fillingLevel });

describe('a conversion that overflows', () => {
  it('is refused naming the value and the units, while its neighbour converts', () => {
    const [overflow] = mapPayload(wasteFill, envelope, container(1e308));
    expect(overflow).toMatchObject({ ok: false, format: 'ngsi-v2-keyvalues', reason: 'fillingLevel is number 1e+308 C62, beyond any number once converted to %' });
    const [fine] = mapPayload(wasteFill, envelope, container(0.42));
    expect(fine).toMatchObject({ ok: true, reading: { fill_pct: 42 } });
  });
});
