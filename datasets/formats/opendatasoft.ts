/**
 * Opendatasoft's Explore API v2.1 (`/records`): each element of `results`
 * is one record. Gent's parking garages (bezetting-parkeergarages-real-time)
 * give a garage's free and total spaces and when they were last updated.
 */
import { defineFormat } from './define.ts';

/** A record of Gent's real-time parking occupancy, through Opendatasoft. */
export const opendatasoftParking = defineFormat({
  id: 'opendatasoft-parking',
  title: 'Opendatasoft records of parking occupancy (data.stad.gent bezetting-parkeergarages-real-time)',
  recognise: [
    { path: 'results', is: 'array' },
    { path: 'results[0].availablecapacity', is: 'number' },
  ],
  items: [{ path: 'results' }],
  // Gent names its car parks for people ("P+R Bourgoyen"): the name made into an id.
  sensorId: 'name',
  sensorIdFrom: 'name',
  time: { path: 'lastupdate' },
  fields: {
    free_spaces: { path: 'availablecapacity' },
    total_spaces: { path: 'totalcapacity' },
  },
  identity: 'sensor-time',
});
