// Stand-in for the arouter proxy until src/server.ts exists: same env, admin key API and header swap.
const upstream = process.env.AROUTER_UPSTREAM_OPENAI ?? "https://api.openai.com";
const adminToken = process.env.AROUTER_ADMIN_TOKEN;
const providerKey = process.env.OPENAI_API_KEY ?? "";
const keys = new Map<string, { id: string; account: string }>();
const HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host"];

const err = (status: number, type: string, message: string, id: string): Response =>
  Response.json({ error: { type, message } }, { status, headers: { "x-arouter-request-id": id } });

Bun.serve({
  hostname: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 8080),
  idleTimeout: 0,
  async fetch(req) {
    const id = crypto.randomUUID();
    const url = new URL(req.url);
    const bearer = req.headers.get("authorization")?.replace(/^Bearer\s+/i, "") ?? "";
    if (url.pathname === "/healthz") return new Response("ok", { headers: { "x-arouter-request-id": id } });
    if (url.pathname === "/admin/keys" && req.method === "POST") {
      if (!adminToken || bearer !== adminToken) return err(401, "unauthorized", "bad admin token", id);
      const { account } = (await req.json()) as { account: string };
      const key = { id: crypto.randomUUID(), account };
      const secret = `ar-${crypto.randomUUID()}`;
      keys.set(secret, key);
      return Response.json({ id: key.id, key: secret, account }, { status: 201, headers: { "x-arouter-request-id": id } });
    }
    if (!url.pathname.startsWith("/openai/")) return err(404, "not_found", "unknown provider", id);
    if (!keys.has(bearer)) return err(401, "unauthorized", "unknown key", id);
    const headers = new Headers(req.headers);
    for (const h of HOP) headers.delete(h);
    headers.set("authorization", `Bearer ${providerKey}`);
    const res = await fetch(upstream + url.pathname.slice("/openai".length) + url.search, {
      method: req.method,
      headers,
      body: req.body,
    });
    const out = new Headers(res.headers);
    out.set("x-arouter-request-id", id);
    return new Response(res.body, { status: res.status, headers: out });
  },
});

export {}; // a module, so its top-level names stay private
