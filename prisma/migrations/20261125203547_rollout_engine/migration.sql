-- AlterTable
ALTER TABLE "Kernel" ADD COLUMN     "handoverFormat" INTEGER NOT NULL DEFAULT 1;

-- AlterTable
ALTER TABLE "Rollout" ADD COLUMN     "rollbackOf" TEXT;

-- AlterTable
ALTER TABLE "Wave" ADD COLUMN     "kind" TEXT NOT NULL DEFAULT 'wave';

-- AlterTable
ALTER TABLE "HostUpdate" ADD COLUMN     "gateAckedAt" TIMESTAMP(3),
ADD COLUMN     "handoverFormat" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "order" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "targetKernelId" TEXT;

-- CreateTable
CREATE TABLE "Session" (
    "id" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "csrfHash" TEXT NOT NULL,
    "tokenId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "Session_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Session_hash_key" ON "Session"("hash");

-- CreateIndex
CREATE INDEX "Kernel_version_idx" ON "Kernel"("version");

-- CreateIndex
CREATE UNIQUE INDEX "Rollout_rollbackOf_key" ON "Rollout"("rollbackOf");

-- CreateIndex
CREATE INDEX "Rollout_updatedAt_idx" ON "Rollout"("updatedAt");

-- CreateIndex
CREATE INDEX "HostUpdate_updatedAt_idx" ON "HostUpdate"("updatedAt");

-- AddForeignKey
ALTER TABLE "Session" ADD CONSTRAINT "Session_tokenId_fkey" FOREIGN KEY ("tokenId") REFERENCES "ApiToken"("id") ON DELETE CASCADE ON UPDATE CASCADE;
