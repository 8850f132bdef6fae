// A server process that dies holding slots, for the limits test: takes HOLD slots of
// sockets for the client IP on the configured store (REDIS_URL or DATABASE_URL), says
// "held" on stdout, then waits to be killed with SIGKILL (no cleanup runs).
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { createLimits } from '../../src/limits/index.ts';
import { openStorage } from '../../src/storage/db.ts';

const config = loadConfig(process.env);
const storage = await openStorage({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
const limits = createLimits(config, storage, systemClock, {
  heartbeatMs: Number(process.env.HEARTBEAT_MS),
  slotTtlMs: Number(process.env.SLOT_TTL_MS),
  ...(process.env.REDIS_PREFIX && { redisPrefix: process.env.REDIS_PREFIX }),
});
for (let i = 0; i < Number(process.env.HOLD); i++) {
  const slot = await limits.acquire('sockets', String(process.env.IP), 1000);
  if (!slot) throw new Error('no slot');
  slot.confirm();
}
process.stdout.write('held\n');
setInterval(() => {}, 1 << 30);
