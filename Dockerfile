# Production image: compiled app, production dependencies, non-root user. Needs DATABASE_URL
# (the embedded PostgreSQL is for development: it is not in the image, and NODE_ENV=production
# refuses to start without DATABASE_URL) and one master key source (NODE_ENV=production):
# APP_MASTER_KEY_FILE (a mounted secret, as docker-compose.yml does), APP_MASTER_KEY_SEALED with
# the HSM's PKCS#11 library mounted (PKCS11_MODULE), or APP_MASTER_KEY. Run it with a memlock
# limit and without core dumps: docs/operations.md.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# pkcs11js (the HSM source) compiles with node-gyp: python3, make and a C++ compiler.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
# The encryption library is an npm workspace (packages/nest-encryption): npm ci links it into
# node_modules, and `npm run build` (prebuild: build:lib) compiles it before the app.
COPY package.json package-lock.json ./
COPY packages/nest-encryption/package.json ./packages/nest-encryption/
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json tsconfig.build.json nest-cli.json ./
COPY packages/nest-encryption/tsconfig.json packages/nest-encryption/tsconfig.build.json ./packages/nest-encryption/
COPY packages/nest-encryption/src ./packages/nest-encryption/src
COPY src ./src
# --omit=optional: the optional dependencies are platform binaries the runtime never loads: the
# embedded PostgreSQL (@embedded-postgres/*, 60 MB), SWC's compiler, pg's Cloudflare socket; and
# ts-node and typescript, which --omit=dev alone keeps as optional peers of production packages.
RUN npm run build && npm prune --omit=dev --omit=optional

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# node_modules/@vault-pii/nest-encryption is a link to the workspace: its build and package.json.
COPY --from=build /app/packages/nest-encryption/package.json ./packages/nest-encryption/
COPY --from=build /app/packages/nest-encryption/dist ./packages/nest-encryption/dist
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
CMD ["node", "dist/main.js"]
