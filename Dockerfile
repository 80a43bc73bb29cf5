# One image for every Entente service: `docker run IMAGE serve <service>`.
FROM node:24-slim AS base
RUN npm install -g pnpm@12.21.0
WORKDIR /app

# Dependencies from the lockfile alone, so source changes reuse these layers. Every platform's
# native packages, as pnpm-workspace.yaml asks: with fewer, `pnpm build` would reinstall them.
FROM base AS deps
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
# Every workspace manifest (a new package needs a line here): installs link the workspace
# without its sources.
COPY package.json ./
COPY packages/client/package.json packages/client/
COPY packages/connectors/package.json packages/connectors/
COPY packages/promql/package.json packages/promql/
COPY packages/protocol/package.json packages/protocol/
COPY packages/runtime/package.json packages/runtime/
COPY packages/server/package.json packages/server/
COPY packages/sql/package.json packages/sql/
COPY packages/testkit/package.json packages/testkit/
COPY services/broker-bridge/package.json services/broker-bridge/
COPY services/diagnostics/package.json services/diagnostics/
COPY services/graphql/package.json services/graphql/
COPY services/query-federation/package.json services/query-federation/
COPY services/region-router/package.json services/region-router/
COPY services/sagas/package.json services/sagas/
COPY services/sql-join/package.json services/sql-join/
COPY test/package.json test/

FROM deps AS build
RUN pnpm install --frozen-lockfile --offline
COPY tsconfig.json tsconfig.base.json ./
COPY packages packages
COPY services services
RUN pnpm build

# Production dependencies for this image's platform only (the lockfile also carries native
# packages for macOS and other CPUs), linked afresh from the store `pnpm fetch` filled.
FROM deps AS prod-deps
RUN rm -rf node_modules \
  && pnpm install --frozen-lockfile --offline --prod \
    --os=linux --cpu="$(node -p process.arch)" --libc=glibc

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app ./
COPY --from=build /app/packages/client/dist packages/client/dist
COPY --from=build /app/packages/connectors/dist packages/connectors/dist
COPY --from=build /app/packages/promql/dist packages/promql/dist
COPY --from=build /app/packages/protocol/dist packages/protocol/dist
COPY --from=build /app/packages/runtime/dist packages/runtime/dist
COPY --from=build /app/packages/server/dist packages/server/dist
COPY --from=build /app/packages/server/bin packages/server/bin
COPY --from=build /app/packages/sql/dist packages/sql/dist
COPY --from=build /app/packages/testkit/dist packages/testkit/dist
COPY --from=build /app/services/broker-bridge/dist services/broker-bridge/dist
COPY --from=build /app/services/diagnostics/dist services/diagnostics/dist
COPY --from=build /app/services/graphql/dist services/graphql/dist
COPY --from=build /app/services/query-federation/dist services/query-federation/dist
COPY --from=build /app/services/region-router/dist services/region-router/dist
COPY --from=build /app/services/sagas/dist services/sagas/dist
COPY --from=build /app/services/sql-join/dist services/sql-join/dist
USER node
ENTRYPOINT ["node", "packages/server/bin/entente.js"]
CMD ["serve", "all"]
