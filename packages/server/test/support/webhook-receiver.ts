import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  /** The raw body, exactly as it arrived. */
  body: string;
  headers: http.IncomingHttpHeaders;
  /** What the receiver answered. */
  status: number;
  /** When it arrived, by the receiver's clock (Unix ms): what a signature is verified against. */
  receivedAt: number;
}

/** Decides the answer to the n-th request (0-based): a status, or 'hang' to never answer. */
export type Answer = (n: number, body: string) => number | 'hang';

/**
 * A webhook receiver on 127.0.0.1, port 0: records every request (answered or not) in
 * order, and answers as `answer` says (200 by default).
 */
export class Receiver {
  readonly requests: ReceivedHook[] = [];
  /** TCP connections accepted, whether or not a request came over them. */
  connections = 0;
  answer: Answer;
  /** The receiver's clock; tests whose server runs on a ManualClock pass that one. */
  clock: () => number = Date.now;
  readonly #server: http.Server;
  readonly #hanging = new Set<http.ServerResponse>();
  #waiters: (() => void)[] = [];

  private constructor(answer: Answer) {
    this.answer = answer;
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const answer = this.answer(this.requests.length, body);
        this.requests.push({ body, headers: req.headers, status: answer === 'hang' ? 0 : answer, receivedAt: this.clock() });
        for (const w of this.#waiters.splice(0)) w();
        if (answer === 'hang') {
          this.#hanging.add(res);
          return;
        }
        res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'failing on purpose');
      });
    });
  }

  static async start(answer: Answer = () => 200): Promise<Receiver> {
    const r = new Receiver(answer);
    r.#server.on('connection', () => r.connections++);
    await new Promise<void>((resolve) => r.#server.listen(0, '127.0.0.1', resolve));
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks`;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Requests answered 2xx, parsed. */
  delivered(): { id: string; type: string; sequence: number; data: { invoice: { uid: string; status: string } } }[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300).map((r) => JSON.parse(r.body));
  }

  /** Waits until `predicate` holds over what was received, within `ms`. */
  async until(predicate: (r: Receiver) => boolean, ms = 15_000, what = 'the expected deliveries'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no ${what} within ${ms} ms; got ${JSON.stringify(this.requests.map((r) => [r.status, JSON.parse(r.body).id]))}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
