# neurobuild-ingest container image.
# Build stage: Node 20 on Debian bookworm bundles the server with esbuild.
# Runtime stage: slim Debian with Node 20, the bundle and production dependencies only
# (the uWebSockets.js native addon is loaded from node_modules), as a non-root user.
# (Issue 5 replaces the runtime stage's Node + node_modules by the single SEA binary.)

FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN node scripts/bundle.mjs && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER node
EXPOSE 3000 3001 1883 8883 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/neurobuild-ingest.cjs"]
CMD ["serve"]
