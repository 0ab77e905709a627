import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from './generated/prisma/client.js'

export type Db = PrismaClient
export { Prisma } from './generated/prisma/client.js'
export * from './generated/prisma/enums.js'

/** A Prisma client over the pg driver adapter (Prisma 7 has no built-in driver). */
export function createDb(databaseUrl: string, poolSize = 10): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: poolSize }) })
}
