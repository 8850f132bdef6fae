// A whole server process on the shared database (settings from the environment), for the
// test that kills one with SIGKILL while it delivers a webhook. Prints its URL when it is up.
import { loadConfig } from '../../src/config.ts';
import { startServer } from '../../src/start.ts';

const server = await startServer(loadConfig(process.env), { sweeper: { start: false } });
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.on('SIGTERM', () => {
  server.close().then(() => process.exit(0));
});
