/**
 * Clients that CONNECT to a broker again and again with wrong passwords, as a
 * process of their own: `node --import tsx connect-flood.ts <port> <loops>`.
 * Each attempt uses a new client id (and username), so no per-client
 * backoff spares its check. On SIGTERM it prints one JSON line:
 * `{ attempts, admitted, refused }`.
 */
import mqtt from 'mqtt';

const [port, loops] = process.argv.slice(2).map(Number);
if (!Number.isInteger(port) || !Number.isInteger(loops)) throw new Error('usage: connect-flood.ts <port> <loops>');
const counts = { attempts: 0, admitted: 0, refused: 0 };
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify(counts)}\n`);
  process.exit(0);
});

await Promise.all(
  Array.from({ length: loops ?? 0 }, async (_, loop) => {
    for (let i = 0; ; i++) {
      const id = `flood-${process.pid}-${loop}-${i}`;
      counts.attempts += 1;
      await new Promise<void>((resolve) => {
        const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: id, username: id, password: 'wrong', reconnectPeriod: 0, connectTimeout: 30_000 });
        client.once('connect', () => {
          counts.admitted += 1;
          client.end(true);
          resolve();
        });
        client.once('error', () => {
          counts.refused += 1;
          client.end(true);
          resolve();
        });
        client.once('close', () => resolve());
      });
    }
  }),
);
