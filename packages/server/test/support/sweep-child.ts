// One "server process" for the multi-process sweeper test: opens the shared database,
// sweeps once at the time given in NOW, prints the result as JSON.
import { ManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { createSystem } from '../../src/system.ts';
import { Sweeper } from '../../src/workers/sweeper.ts';

const system = await createSystem(loadConfig(process.env), { clock: new ManualClock(Number(process.env.NOW)) });
try {
  const result = await new Sweeper(system.invoices, system.clock, { batchSize: Number(process.env.BATCH ?? 100) }).runOnce();
  process.stdout.write(JSON.stringify(result));
} finally {
  await system.close();
}
