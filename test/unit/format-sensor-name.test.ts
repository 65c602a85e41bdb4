/**
 * A source that names its sensors for people (Gent's car parks): the format
 * declares `sensorIdFrom: 'name'`, and the name becomes an id.
 */
import { describe, expect, it } from 'vitest';
import { checkFormats } from '../../datasets/formats/check.ts';
import { defineFormat } from '../../datasets/formats/define.ts';
import { parkingOccupancy } from '../../datasets/parking-occupancy.ts';
import { idOfName, mapPayload } from '../../functions/core/formats.ts';

const envelope = { messageId: 'm1', sensorId: 'gent-odp', receivedAt: '2026-11-20T09:30:00.000Z', via: 'pull:gent-parking', format: 'opendatasoft-parking' };
const record = (name: unknown) => ({ name, lastupdate: '2026-11-20T10:19:58+01:00', availablecapacity: 331, totalcapacity: 400 });

describe('a sensor id made of a name', () => {
  it('keeps what an id may hold, drops accents, and makes every other run one dash', () => {
    expect(idOfName('P+R Bourgoyen')).toBe('P-R-Bourgoyen');
    expect(idOfName('Vrijdagmarkt')).toBe('Vrijdagmarkt');
    expect(idOfName('  Sint-Pietersplein (ondergronds) ')).toBe('Sint-Pietersplein-ondergronds');
    expect(idOfName('Ledeberg / Hundelgemsesteenweg')).toBe('Ledeberg-Hundelgemsesteenweg');
    expect(idOfName('Kortrijksepoortstraat – Zuid')).toBe('Kortrijksepoortstraat-Zuid');
    expect(idOfName('Reep Čeština Ærø')).toBe('Reep-Cestina-r');
    expect(idOfName('x'.repeat(127) + ' y')).toBe('x'.repeat(127));
    // Nothing an id can hold: left as it is, so the id is refused naming the path.
    expect(idOfName('+++')).toBe('+++');
  });

  it('curates a car park under the id of its name, one per distinct name, and refuses a name that holds no id', () => {
    const [bourgoyen] = mapPayload(parkingOccupancy, envelope, { total_count: 1, results: [record('P+R Bourgoyen')] });
    expect(bourgoyen).toMatchObject({ ok: true, sensorId: 'P-R-Bourgoyen', reading: { free_spaces: 331, total_spaces: 400 } });
    // The same garage fetched again is the same reading: identity by the id made of its name and its time.
    const [again] = mapPayload(parkingOccupancy, { ...envelope, messageId: 'm2' }, { total_count: 1, results: [record('P+R Bourgoyen')] });
    expect(again?.messageId).toBe(bourgoyen?.messageId);
    const [none] = mapPayload(parkingOccupancy, envelope, { total_count: 1, results: [record('+++')] });
    expect(none).toMatchObject({ ok: false, reason: 'name is not a valid sensor id (1 to 128 of A-Z a-z 0-9 : _ -), got "+++"' });
    const [number] = mapPayload(parkingOccupancy, envelope, { total_count: 1, results: [record(17)] });
    expect(number).toMatchObject({ ok: true, sensorId: '17' });
  });

  it('is refused in a declaration that names no sensor', () => {
    const fields = [
      { name: 'ts', kind: 'time', required: true },
      { name: 'free_spaces', kind: 'int', required: true },
    ];
    const format = defineFormat({ id: 'probe', title: 'Probe', recognise: [{ path: 'at' }], sensorIdFrom: 'name', time: { path: 'at' }, fields: { free_spaces: { path: 'free' } } });
    expect(checkFormats([format], fields)).toBe('format "probe": sensorIdFrom says how to read the sensor id, but the format names no sensorId');
  });
});
