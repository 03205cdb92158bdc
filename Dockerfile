# Build: compile TypeScript, then drop dev dependencies.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json main.ts app.ts ./
COPY shared ./shared
COPY broker ./broker
COPY api ./api
COPY cli ./cli
# The browser chat page (served at /) and the client SDK it bundles.
COPY client ./client
COPY web ./web
RUN npm run build && npm prune --omit=dev

# Run: compiled JavaScript and production dependencies only, as the unprivileged `node` user.
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/web ./web
# DATA_DIR (./data) holds the embedded database when DATABASE_URL is unset.
RUN mkdir data && chown node:node data
USER node
EXPOSE 1883 8080 3000
CMD ["node", "dist/main.js"]
