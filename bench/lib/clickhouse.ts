// Minimal ClickHouse HTTP queries for the usage phase (no client library: one round trip, plain text).
export async function chQuery(baseUrl: string, database: string, sql: string, timeoutMs = 5000): Promise<string> {
  const res = await fetch(`${baseUrl}/?database=${encodeURIComponent(database)}`, {
    method: "POST",
    body: sql,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text.slice(0, 300)}`);
  return text;
}

/** FINAL so a replayed event counts once, as the contract's totals do. */
export async function usageRowCount(baseUrl: string, database: string): Promise<number> {
  return Number((await chQuery(baseUrl, database, "SELECT count() FROM usage_events FINAL")).trim());
}

export async function tableExists(baseUrl: string, database: string, table: string): Promise<boolean> {
  try {
    return (await chQuery(baseUrl, database, `EXISTS TABLE ${table}`)).trim() === "1";
  } catch {
    return false;
  }
}
