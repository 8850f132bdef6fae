import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import net from 'node:net';

/**
 * Several server processes on one port (`nltrade serve --workers N`).
 *
 * The primary accepts every TCP connection, reads the first request line, and hands the
 * connection (the socket itself, not a copy of its bytes) to a worker; from then on the
 * worker talks to the client directly. socket.io's long-polling keeps each session in the
 * memory of the worker that opened it, so each worker starts its session ids with its own
 * number, and a request naming a session (`sid=` in its query) is handed to that worker —
 * known from the id alone, so the very next poll after the handshake cannot go astray.
 * Anything else goes to the worker with the fewest connections.
 * Invoice events cross workers through the durable event log (PostgreSQL), as between any
 * two server processes, so no socket.io adapter is needed.
 */

const SID_RE = /[?&]sid=(\d{1,6})-[\w-]{10,64}(?:[&\s]|$)/;
/** A first request line longer than this is not a request line: route it without a session. */
const MAX_HEAD = 8 * 1024;
/** A client that sends no request line in this time gets no worker at all. */
const HEAD_TIMEOUT_MS = 10_000;

interface ConnectionMessage {
  readonly type: 'nltrade:connection';
  /** Bytes the primary read before handing the socket over (base64). */
  readonly head: string;
  readonly id: number;
}
interface AcceptedMessage {
  readonly type: 'nltrade:accepted';
  readonly id: number;
}

export interface PrimaryOptions {
  port: number;
  host: string;
  workers: number;
  /** Environment for each worker (the parent's, plus what it needs to know). */
  env?: NodeJS.ProcessEnv;
  /** After SIGTERM, how long workers get before they are killed. */
  stopTimeoutMs?: number;
  log: (message: string) => void;
}

export interface Primary {
  readonly port: number;
  /** Stops accepting, asks every worker to shut down, and waits for them. */
  close(): Promise<void>;
}

/** Runs the primary: forks the workers, accepts connections and routes them. */
export async function runPrimary(options: PrimaryOptions): Promise<Primary> {
  const load = new Map<number, number>();
  /**
   * Sockets handed to a worker that has not said it took them yet. The primary keeps its
   * copy open until then: a worker that dies with one in its mailbox would otherwise leave
   * the client waiting on a connection nobody holds.
   */
  const handing = new Map<number, { socket: net.Socket; head: Buffer; workerId: number; timer: NodeJS.Timeout }>();
  let nextId = 1;
  let closing = false;
  const release = (id: number) => {
    const pending = handing.get(id);
    if (!pending) return;
    handing.delete(id);
    clearTimeout(pending.timer);
    pending.socket.destroy();
  };

  // Each worker keeps its place (0…N-1) across restarts: it picks its metrics port by it.
  const indexOf = new Map<number, number>();
  const fork = (index: number): Worker => {
    const worker = cluster.fork({ ...options.env, NLTRADE_WORKER_INDEX: String(index) });
    indexOf.set(worker.id, index);
    load.set(worker.id, 0);
    worker.on('message', (message: AcceptedMessage) => {
      if (message?.type === 'nltrade:accepted') release(message.id);
    });
    return worker;
  };

  cluster.on('exit', (worker, code, signal) => {
    load.delete(worker.id);
    // Connections it never took go to another worker: the client sees nothing of it.
    for (const [id, pending] of handing) {
      if (pending.workerId !== worker.id) continue;
      handing.delete(id);
      clearTimeout(pending.timer);
      if (closing) pending.socket.destroy();
      else dispatch(pending.socket, pending.head);
    }
    if (closing) return;
    options.log(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    // A worker that dies at once would otherwise be restarted in a tight loop.
    const index = indexOf.get(worker.id) ?? 0;
    indexOf.delete(worker.id);
    setTimeout(() => {
      if (!closing) fork(index);
    }, 1000).unref();
  });

  const ready = Array.from({ length: options.workers }, (_, index) => {
    const worker = fork(index);
    return new Promise<void>((resolve, reject) => {
      worker.once('message', function onReady(message: { type?: string }) {
        if (message?.type === 'nltrade:ready') resolve();
        else worker.once('message', onReady);
      });
      worker.once('exit', (code) => reject(new Error(`worker exited with ${code} while starting`)));
    });
  });
  await Promise.all(ready);

  const pick = (head: string): Worker | undefined => {
    const owner = SID_RE.exec(head.slice(0, head.indexOf('\r\n') >>> 0))?.[1];
    const bySession = owner === undefined ? undefined : cluster.workers?.[Number(owner)];
    // A session whose worker has died is gone: any worker answers, and the client starts anew.
    if (bySession?.isConnected()) return bySession;
    let best: Worker | undefined;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (!worker?.isConnected()) continue;
      if (!best || (load.get(worker.id) ?? 0) < (load.get(best.id) ?? 0)) best = worker;
    }
    return best;
  };

  const dispatch = (socket: net.Socket, head: Buffer): void => {
    const worker = pick(head.toString('latin1'));
    if (!worker) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    load.set(worker.id, (load.get(worker.id) ?? 0) + 1);
    socket.once('close', () => load.set(worker.id, Math.max(0, (load.get(worker.id) ?? 1) - 1)));
    const id = nextId++;
    handing.set(id, { socket, head, workerId: worker.id, timer: setTimeout(() => release(id), HEAD_TIMEOUT_MS) });
    const message: ConnectionMessage = { type: 'nltrade:connection', head: head.toString('base64'), id };
    worker.send(message, socket, { keepOpen: true }, (err) => {
      if (err) release(id);
    });
  };

  /** Connections still sending their first request line (not yet any worker's). */
  const reading = new Set<net.Socket>();

  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    reading.add(socket);
    socket.once('close', () => reading.delete(socket));
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => socket.destroy(), HEAD_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (!chunk.includes('\r\n') && size < MAX_HEAD) return;
      // Stop reading here: every byte read so far goes to the worker with the socket, and
      // none may be read by this process afterwards.
      socket.off('data', onData);
      socket.pause();
      (socket as net.Socket & { _handle?: { readStop?: () => void } })._handle?.readStop?.();
      clearTimeout(timer);
      for (let more = socket.read() as Buffer | null; more !== null; more = socket.read() as Buffer | null) chunks.push(more);
      reading.delete(socket);
      dispatch(socket, Buffer.concat(chunks));
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
    socket.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;

  return {
    port,
    async close() {
      closing = true;
      // Stop accepting. Connections already handed over are the workers' to finish; the
      // server's own close callback would wait for every one of them, so it is not awaited.
      server.close();
      for (const socket of reading) socket.destroy();
      for (const id of [...handing.keys()]) release(id);
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
      const exits = workers.map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
      for (const worker of workers) worker.process.kill('SIGTERM');
      // Each worker drains within SHUTDOWN_TIMEOUT; one that does not is not waited for forever.
      const backstop = setTimeout(() => {
        for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
      }, options.stopTimeoutMs ?? 20_000);
      await Promise.all(exits);
      clearTimeout(backstop);
    },
  };
}

/**
 * In a worker: takes the connections the primary hands over and feeds them to `httpServer`
 * (Fastify's, with socket.io attached), and names its socket.io sessions so the primary
 * can tell whose they are.
 */
export function acceptFromPrimary(
  httpServer: HttpServer,
  engine: { generateId: (req: IncomingMessage) => string | PromiseLike<string> },
): () => void {
  const onMessage = (message: ConnectionMessage, socket: net.Socket | undefined) => {
    if (message?.type !== 'nltrade:connection' || !socket) return;
    httpServer.emit('connection', socket);
    // The request's first bytes were read by the primary; the HTTP parser gets them first.
    socket.emit('data', Buffer.from(message.head, 'base64'));
    socket.resume();
    process.send?.({ type: 'nltrade:accepted', id: message.id } satisfies AcceptedMessage);
  };
  process.on('message', onMessage);
  const workerId = cluster.worker?.id ?? 0;
  engine.generateId = () => `${workerId}-${randomBytes(15).toString('base64url')}`;
  // Long-polling requests of different sessions must not share a connection: it is handed
  // to one worker for good.
  const noSharedPolling = (req: { url?: string }, res: { setHeader(n: string, v: string): void }) => {
    if (req.url?.startsWith('/socket.io/')) res.setHeader('Connection', 'close');
  };
  httpServer.prependListener('request', noSharedPolling);
  process.send?.({ type: 'nltrade:ready' });
  return () => {
    process.off('message', onMessage);
    httpServer.off('request', noSharedPolling);
  };
}

export const isWorker = (): boolean => cluster.isWorker;

/** A worker's place among the primary's workers (0…N-1), stable across its restarts. */
export const workerIndex = (): number => Number(process.env.NLTRADE_WORKER_INDEX ?? 0);
