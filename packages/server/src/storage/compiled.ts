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
  readonly #compiled = new Map<string, { query: CompiledQuery; names: readonly (string | null)[] }>();

  /** Runs the query compiled for `key` (built by `build` the first time) with `values` in place of its `param`s. */
  async run<R>(
    db: Kysely<Database> | Transaction<Database>,
    key: string,
    build: () => CompiledQuery,
    values: Readonly<Record<string, unknown>>,
  ): Promise<QueryResult<R>> {
    let compiled = this.#compiled.get(key);
    if (!compiled) {
      const query = build();
      const names = query.parameters.map((p) => (typeof p === 'string' && p.startsWith(MARK) ? p.slice(MARK.length) : null));
      compiled = { query, names };
      this.#compiled.set(key, compiled);
    }
    const { query, names } = compiled;
    const parameters = new Array<unknown>(names.length);
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      if (name === null || name === undefined) {
        parameters[i] = query.parameters[i];
      } else {
        if (!Object.hasOwn(values, name)) throw new Error(`No value for the query parameter ${name} of ${key}`);
        parameters[i] = values[name];
      }
    }
    return db.executeQuery<R>({ ...query, parameters } as CompiledQuery<R>);
  }
}

/** A row of `param`s named after its own columns: an INSERT compiled once for any such row. */
export function paramsOf<T extends object>(row: T): T {
  return Object.fromEntries(Object.keys(row).map((column) => [column, param(column)])) as T;
}
