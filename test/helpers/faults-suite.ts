// Shared scaffolding of the fault suites: one mock provider per file, traffic and stacks cleaned after each test,
// and the check every fault ends with (rows under FINAL are exactly the requests served).
import { afterAll, afterEach, beforeAll, expect } from 'bun:test';
import { closeAllStacks, type FaultStack } from './faults-stack.ts';
import { startTraffic, type Traffic } from './faults-traffic.ts';
import { fixtureBytes } from './fixtures.ts';
import { startMockUpstream, type MockUpstream } from './mock-upstream.ts';

export interface FaultSuite {
  mock(): MockUpstream;
  /** Four concurrent clients through the stack's proxy, stopped after the test. */
  trafficOn(s: FaultStack): Traffic;
}

/** Registers the hooks of a fault test file; call once at its top level. */
export function faultSuite(): FaultSuite {
  let mock: MockUpstream | undefined;
  let traffic: Traffic | undefined;
  beforeAll(async () => {
    mock = await startMockUpstream();
    mock.on('/v1/chat/completions', { body: fixtureBytes('openai/chat-nonstream.json') });
  });
  afterEach(async () => {
    await traffic?.stop();
    traffic = undefined;
    await closeAllStacks();
  });
  afterAll(() => mock?.stop());
  return {
    mock: () => {
      if (!mock) throw new Error('faultSuite: the mock starts in beforeAll');
      return mock;
    },
    trafficOn(s) {
      traffic = startTraffic({ target: () => ({ url: s.proxy.url, key: s.proxy.key }), concurrency: 4 });
      return traffic;
    },
  };
}

/** Rows with FINAL: one per served request, no duplicate, and exactly the served ids. */
export async function expectExactlyServed(s: FaultStack, served: ReadonlySet<string>): Promise<{ ms: number; physical: number }> {
  const got = await s.settle(served, 40_000);
  expect(got.count).toBe(served.size);
  expect(got.uniq).toBe(got.count);
  expect([...got.ids].sort()).toEqual([...served].sort());
  return { ms: got.ms, physical: await s.physicalCount() };
}
