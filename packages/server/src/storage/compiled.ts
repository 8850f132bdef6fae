import type { CompiledQuery, Kysely, QueryResult, Transaction } from 'kysely';
import type { Database } from './schema.ts';

const MARK = '\u0000nltrade-param:';

/**
 * A parameter to fill in on each run of a query compiled once (see `CompiledQueries`): put it
 * where the value goes when building, and give the value under `name` to `run`.
 */
export const param = <T = unknown>(name: string): T => `${MARK}${name}` as T;

/**
 * Queries built and compiled once per shape. Kysely spends tens of microseconds building and
 * compiling a query, more than an indexed statement takes to run on SQLite, on paths every
 * invoice takes (create, read, the ledger's entries). The SQL text is the same every run, so
 * PostgreSQL's prepared statement and SQLite's statement cache are reused too.
 */
export class CompiledQueries {
  readonly #compiled = new Map<string, CompiledQuery>();

  /** Runs the query compiled for `key` (built by `build` the first time) with `values` in place of its `param`s. */
  async run<R>(
    db: Kysely<Database> | Transaction<Database>,
    key: string,
    build: () => CompiledQuery,
    values: Readonly<Record<string, unknown>>,
  ): Promise<QueryResult<R>> {
    let compiled = this.#compiled.get(key);
    if (!compiled) {
      compiled = build();
      this.#compiled.set(key, compiled);
    }
    const parameters = compiled.parameters.map((p) => {
      if (typeof p !== 'string' || !p.startsWith(MARK)) return p;
      const name = p.slice(MARK.length);
      if (!Object.hasOwn(values, name)) throw new Error(`No value for the query parameter ${name} of ${key}`);
      return values[name];
    });
    return db.executeQuery<R>({ ...compiled, parameters } as CompiledQuery<R>);
  }
}

/** A row of `param`s named after its own columns: an INSERT compiled once for any such row. */
export function paramsOf<T extends object>(row: T): T {
  return Object.fromEntries(Object.keys(row).map((column) => [column, param(column)])) as T;
}
