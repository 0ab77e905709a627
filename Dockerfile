# One image for every Hitless service; the command picks the service (docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages ./packages
COPY services ./services
COPY prisma ./prisma
COPY scripts ./scripts
COPY tsconfig.json prisma.config.ts ./
RUN npm ci --no-audit --no-fund && node scripts/prisma-generate.mjs
ENV NODE_ENV=production
USER node
CMD ["node", "--import", "tsx", "services/controller/src/main.ts"]
