# Tributary: the single-host daemon (and, with another command, a producer or collector).
#   docker build -t tributary .
#   docker run -p 3100:3100 -p 9095:9095 -v tributary-data:/var/lib/tributary tributary
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
# One malloc arena and an early mmap threshold keep resident memory near the budget (see docs/ARCHITECTURE.md).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=1 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    TRIBUTARY_DATA_DIR=/var/lib/tributary \
    TRIBUTARY_HTTP__HOST=0.0.0.0 \
    TRIBUTARY_GRPC__HOST=0.0.0.0 \
    TRIBUTARY_SYSLOG__HOST=0.0.0.0
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/proto ./proto
COPY --from=build /app/ui ./ui
# Also the compose files' log and collector-state volumes: a new named volume takes its mount point's owner from the image.
RUN mkdir -p /var/lib/tributary /logs /state && chown node:node /var/lib/tributary /logs /state
USER node
VOLUME /var/lib/tributary
EXPOSE 3100 9095 1514
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:3100/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The daemon stops gracefully on SIGTERM (docker stop); give it time to sync: docker stop -t 30.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["start"]
