# One image for every Entente service: `docker run IMAGE serve <service>`.
FROM node:24-slim
RUN npm install -g pnpm@12.21.0
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile && pnpm build
ENTRYPOINT ["node", "packages/server/bin/entente.js"]
CMD ["serve", "all"]
