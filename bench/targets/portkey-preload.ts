// Preload for @portkey-ai/gateway: pins every listening socket to loopback (it binds all interfaces).
import http from "node:http";
import net from "node:net";

type Listen = (...args: unknown[]) => unknown;
const HOST = "127.0.0.1";

/** Rewrites listen(port[, host][, backlog][, cb]) and listen({port, host}, cb) so host is always loopback. */
function pin(original: Listen): Listen {
  return function (this: unknown, ...args: unknown[]): unknown {
    const [first] = args;
    if (first !== null && typeof first === "object") {
      args[0] = { ...(first as Record<string, unknown>), host: HOST };
    } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
      if (typeof args[1] === "string") args[1] = HOST;
      else args.splice(1, 0, HOST);
    }
    return original.apply(this, args);
  };
}

for (const proto of [http.Server.prototype, net.Server.prototype] as Array<{ listen: Listen }>) {
  proto.listen = pin(proto.listen);
}
