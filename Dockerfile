# syntax=docker/dockerfile:1
# Image of the chat server, serving the built web app from the same port.
#   docker build -t realtime-chat:0.1.0 .
#   docker run --rm -p 8080:8080 -e TOKEN_SECRET="$(openssl rand -base64 48)" realtime-chat:0.1.0
# Runtime: Node 24, production dependencies only, non-root (uid/gid 10001), files owned by root
# and read-only to the process (the chart also mounts the root filesystem read-only).

ARG NODE_IMAGE=node:24-bookworm-slim

############################ build: install, build, prune ############################
FROM ${NODE_IMAGE} AS build
ENV CI=true \
    PNPM_HOME=/pnpm \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
RUN npm i -g pnpm@10.34.9
WORKDIR /repo

# Dependencies first (only the lockfile): this layer is reused until the lockfile changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store pnpm fetch --store-dir /pnpm/store

COPY . .
# Only what the server and the web app need (and the workspace packages they import).
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --offline --store-dir /pnpm/store \
      --filter "@chat/server..." --filter "@chat/web..."
# esbuild bundles the server (and @chat/protocol) into apps/server/dist; Vite builds apps/web/dist.
RUN pnpm --filter "@chat/server..." --filter "@chat/web..." run build \
 && test -f apps/server/dist/server.js -a -f apps/server/dist/probe.js -a -f apps/web/dist/index.html

# A self-contained server folder with production dependencies only.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm --filter @chat/server deploy --prod --legacy --offline --store-dir /pnpm/store /out/server \
 && rm -rf /out/server/src /out/server/test /out/server/build.mjs /out/server/tsconfig.json /out/server/vitest.config.ts \
 && rm -rf /out/server/dist && cp -r apps/server/dist /out/server/dist \
 && cp -r apps/web/dist /out/web

############################ runtime ############################
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    WEB_ROOT=/app/web
RUN groupadd --system --gid 10001 chat \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin chat
WORKDIR /app/server
COPY --from=build /out/server /app/server
COPY --from=build /out/web /app/web
USER 10001:10001
EXPOSE 8080
# Kubernetes uses the chart's probes; this one is for docker / docker compose.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# `node dist/probe.js --url ws://HOST:PORT/ws` runs from this same folder (helm test).
CMD ["node", "dist/server.js"]
