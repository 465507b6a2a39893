# arouter image: the proxy (default command) and the usage worker (`bun run workers/main.ts`) share it.
# Build: docker build -t arouter .      Run: see docker-compose.yml
ARG BUN_VERSION=1.4.5

# Dependencies from the committed lockfile, without the dev tools (SDKs, TypeScript, the bun npm package).
FROM oven/bun:${BUN_VERSION}-slim AS deps
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production --ignore-scripts

FROM oven/bun:${BUN_VERSION}-slim
WORKDIR /app
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    AROUTER_OUTBOX_DIR=/var/lib/arouter/outbox
COPY --from=deps /app/node_modules ./node_modules
COPY package.json bun.lock tsconfig.json bunfig.toml ./
COPY src ./src
COPY workers ./workers
# The durable outbox must survive a restart: mount a volume at /var/lib/arouter/outbox (docker-compose.yml does).
RUN mkdir -p /var/lib/arouter/outbox && chown -R bun:bun /var/lib/arouter
USER bun
EXPOSE 8080
# The slim image has no curl: ask /healthz with Bun itself. (The worker, which serves no HTTP, turns it off.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bun", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM starts the drain (AROUTER_DRAIN_TIMEOUT_MS); give the container a longer stop timeout than that.
STOPSIGNAL SIGTERM
# Bun's fetch runs at most 256 upstream requests at once unless this is set at process start.
ENV BUN_CONFIG_MAX_HTTP_REQUESTS=65535
# Bun's allocator keeps freed pages for reuse instead of returning them to the OS and faulting them in again: a
# fifth of the proxy's CPU and two thirds of the worker's at a steady load (bench/README.md). RSS stays at its peak.
ENV MIMALLOC_PURGE_DELAY=-1
CMD ["bun", "run", "src/server.ts"]
