import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { type RunningServer, startServer } from '../src/start.ts';
import { createSystem, type System } from '../src/system.ts';
import { type Live, live, Recorder } from './support/live.ts';
import { dbKinds, describeOn } from './support/system.ts';

const REDIS_URL = process.env.NLTRADE_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const MAX = 3;

/** An address of its own per run: runs that share one Redis never meet. */
const freshIp = () => `198.18.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

async function connect(url: string, ip: string): Promise<Recorder> {
  const r = new Recorder(
    io(url, {
      path: '/socket.io',
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      extraHeaders: { 'x-forwarded-for': ip },
    }),
  );
  await r.connected();
  return r;
}

const variants: Array<{ name: string; kind: 'sqlite' | 'postgres'; redis: boolean }> = [];
for (const kind of await dbKinds()) if (kind === 'postgres') variants.push({ name: 'PostgreSQL', kind, redis: false });
variants.push({ name: 'Redis', kind: 'sqlite', redis: true });

for (const v of variants) {
  // Two server processes (two systems, each with its own limits) on one database.
  describeOn(v.kind, `sockets per IP are counted across servers (${v.name})`, () => {
    let l: Live;
    let other: System;
    let otherServer: RunningServer;
    const sockets: Recorder[] = [];
    before(async () => {
      l = await live(v.kind, undefined, { maxSocketsPerIp: MAX, ...(v.redis && { redisUrl: REDIS_URL }) });
      other = await createSystem(l.ts.system.config);
      otherServer = await startServer(other.config, { system: other, sweeper: { start: false } });
    });
    after(async () => {
      for (const s of sockets) s.socket.disconnect();
      await otherServer.close();
      await other.close();
      await l.close();
    });

    test('one IP holds at most MAX_SOCKETS_PER_IP in total; a socket closed on one server frees a slot on the other', async () => {
      const ip = freshIp();
      sockets.push(await connect(l.url, ip), await connect(l.url, ip), await connect(otherServer.url, ip));
      await assert.rejects(connect(otherServer.url, ip), 'the other server counts the first one’s sockets');
      await assert.rejects(connect(l.url, ip));
      sockets.push(await connect(otherServer.url, freshIp()));
      sockets[0]?.socket.disconnect();
      let got: Recorder | undefined;
      for (let i = 0; !got; i++) {
        got = await connect(otherServer.url, ip).catch((err: unknown) => {
          if (i > 200) throw err;
          return new Promise<undefined>((r) => setTimeout(() => r(undefined), 25));
        });
      }
      sockets.push(got);
      await assert.rejects(connect(l.url, ip), 'full again');
    });
  });
}
