// What a call threw (undefined if it returned): for tests that must read an error's message, which toThrow cannot.
export function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (e) {
    return e;
  }
  return undefined;
}
