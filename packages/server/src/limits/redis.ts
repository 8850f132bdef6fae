import { Redis } from 'ioredis';
import { DEFAULT_SLOT_TTL_MS, type LimitStore, windowEnd } from './store.ts';

// Each script touches one key only, so it also runs on a Redis Cluster. Slot shares are
// hash fields `holder -> "count:expiresAtMs"`, timed by Redis's own clock.
const NOW = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

const ACQUIRE = `${NOW}
local holder, max, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local total, mine = 0, 0
for i = 1, #all, 2 do
  local c, e = string.match(all[i + 1], '^(%-?%d+):(%d+)$')
  c = tonumber(c) or 0
  e = tonumber(e) or 0
  if all[i] == holder then
    mine = c
    total = total + c
  elseif e > now then
    total = total + c
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
if total >= max then return 0 end
redis.call('HSET', KEYS[1], holder, string.format('%d:%d', mine + 1, now + ttl))
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`;

const SET_SHARE = `${NOW}
local holder, count, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HGET', KEYS[1], holder)
local held = v and tonumber(string.match(v, '^(%-?%d+):'))
if ARGV[4] == 'release' then
  if not held then return 0 end
  count = held - 1
elseif ARGV[4] == 'renew' and held then
  -- Only the expiry moves: acquire and release keep the count.
  count = held
end
if count <= 0 then
  redis.call('HDEL', KEYS[1], holder)
  return 0
end
redis.call('HSET', KEYS[1], holder, string.format('%d:%d', count, now + ttl))
redis.call('PEXPIRE', KEYS[1], ttl)
return count
`;

interface LimitCommands {
  nltradeHit(key: string, ttlMs: number): Promise<number>;
  nltradeAcquire(key: string, holder: string, max: number, ttlMs: number): Promise<number>;
  nltradeShare(key: string, holder: string, count: number, ttlMs: number, mode: ShareMode): Promise<number>;
}

type ShareMode = 'set' | 'renew' | 'release';

export interface RedisLimitStoreOptions {
  /** Prepended to every key, so several deployments (or test runs) can share one Redis. */
  prefix?: string;
  slotTtlMs?: number;
}

/**
 * Limits shared by every server process through Redis (`REDIS_URL`). Commands fail at once
 * while Redis is unreachable rather than queueing, so the caller can fall back to counting
 * in its own process instead of holding requests.
 */
export class RedisLimitStore implements LimitStore {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  readonly #commands: LimitCommands;
  readonly #holder: string;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(url: string, holder: string, options: RedisLimitStoreOptions = {}) {
    this.#holder = holder;
    this.#prefix = options.prefix ?? 'nltrade:';
    this.#ttlMs = options.slotTtlMs ?? DEFAULT_SLOT_TTL_MS;
    this.#redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2000,
      connectTimeout: 2000,
      // Reconnects forever, at most every 2 s: limits come back by themselves with Redis.
      retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
    });
    // Errors surface on the commands (and are reported there); the client's own 'error'
    // events would otherwise be unhandled.
    this.#redis.on('error', () => {});
    this.#redis.defineCommand('nltradeHit', { numberOfKeys: 1, lua: HIT });
    this.#redis.defineCommand('nltradeAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    this.#redis.defineCommand('nltradeShare', { numberOfKeys: 1, lua: SET_SHARE });
    this.#commands = this.#redis as unknown as LimitCommands;
  }

  async #ready(): Promise<void> {
    // With lazyConnect and no offline queue, the first command needs the connection made.
    if (this.#redis.status === 'wait') await this.#redis.connect().catch(() => {});
  }

  async hit(key: string, now: number, windowMs: number): Promise<number> {
    await this.#ready();
    const index = windowEnd(now, windowMs) / windowMs;
    // The key names its window; the expiry only collects it afterwards.
    return Number(await this.#commands.nltradeHit(`${this.#prefix}w:${key}:${index}`, windowMs * 2));
  }

  async acquire(key: string, max: number): Promise<boolean> {
    await this.#ready();
    return Number(await this.#commands.nltradeAcquire(this.#slotKey(key), this.#holder, max, this.#ttlMs)) === 1;
  }

  async release(key: string): Promise<void> {
    await this.#ready();
    await this.#commands.nltradeShare(this.#slotKey(key), this.#holder, 0, this.#ttlMs, 'release');
  }

  async renew(holdings: ReadonlyMap<string, number>): Promise<void> {
    await this.#shares(holdings, 'renew');
  }

  async restate(holdings: ReadonlyMap<string, number>): Promise<void> {
    await this.#shares(holdings, 'set');
  }

  async #shares(holdings: ReadonlyMap<string, number>, mode: ShareMode): Promise<void> {
    if (holdings.size === 0) return;
    await this.#ready();
    const pipeline = this.#redis.pipeline() as unknown as {
      nltradeShare(...args: Parameters<LimitCommands['nltradeShare']>): void;
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const [key, count] of holdings) {
      pipeline.nltradeShare(this.#slotKey(key), this.#holder, count, this.#ttlMs, mode);
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err !== null);
    if (failed) throw failed[0];
  }

  async sweep(): Promise<void> {
    // Keys expire by themselves; stale shares are dropped by the next acquire of their key.
  }

  async close(): Promise<void> {
    // The caller restated this process's shares to zero first; whatever a failure left
    // behind expires with the shares' TTL.
    this.#redis.disconnect();
  }

  #slotKey(key: string): string {
    return `${this.#prefix}s:${key}`;
  }
}
