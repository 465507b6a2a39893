// The two SQL calls the usage schema, rollup and query code make, so the same code runs on a server or an embedded engine.
import type { ClickHouseClient } from '@clickhouse/client';

export interface SqlRunner {
  /** Rows of a SELECT, as JSONEachRow objects (64-bit integers may arrive as strings). */
  rows<T>(query: string): Promise<T[]>;
  /** A statement without a result (DDL, INSERT ... SELECT). */
  exec(query: string): Promise<void>;
}

/** A ClickHouse server (HTTP client) or anything else that can run SQL, e.g. chdb in the current-engine check. */
export type UsageStore = ClickHouseClient | SqlRunner;

export function sqlRunner(store: UsageStore): SqlRunner {
  if ('rows' in store) return store;
  return {
    rows: async <T>(query: string) => (await store.query({ query, format: 'JSONEachRow' })).json<T>(),
    exec: async (query: string) => {
      await store.command({ query });
    },
  };
}
