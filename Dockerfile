# neurobuild-ingest: one binary on a slim Debian base.
#   docker build -t neurobuild/neurobuild-ingest:0.1.0 .
#   docker run --rm -p 3000:3000 -p 3001:3001 -p 1883:1883 -p 9090:9090 -e REDIS_URL=redis://redis:6379 neurobuild/neurobuild-ingest:0.1.0

# --- build: Node 20 on Debian bookworm, npm ci, esbuild bundle + Node SEA single executable
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build && ./dist/neurobuild-ingest --version

# --- runtime: the binary alone (no node, no node_modules), as a non-root user
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 ingest \
 && useradd --system --uid 10001 --gid ingest --home-dir /nonexistent --shell /usr/sbin/nologin ingest
COPY --from=build /src/dist/neurobuild-ingest /usr/local/bin/neurobuild-ingest
USER 10001:10001
# NODE_OPTIONS: the young generation sized for the reading path (src/config/heap-flags.ts)
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    LOG_FORMAT=json \
    NODE_OPTIONS=--max-semi-space-size=64
# HTTP API, WebSocket (live readings and MQTT over WebSocket), MQTT, MQTT over TLS, Prometheus
EXPOSE 3000 3001 1883 8883 9090
# the image has no curl: the binary asks its own /health
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/neurobuild-ingest", "healthcheck"]
# exec form: the server is PID 1 and gets SIGTERM itself (graceful drain, then exit)
ENTRYPOINT ["/usr/local/bin/neurobuild-ingest"]
CMD ["serve"]
