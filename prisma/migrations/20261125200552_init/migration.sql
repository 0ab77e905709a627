-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "HostState" AS ENUM ('REGISTERED', 'READY', 'CORDONED', 'UPDATING', 'FAILED_HELD', 'OFFLINE');

-- CreateEnum
CREATE TYPE "RolloutPhase" AS ENUM ('PENDING', 'RUNNING', 'PAUSED', 'COMPLETED', 'HALTED', 'ABORTED');

-- CreateEnum
CREATE TYPE "HostUpdateState" AS ENUM ('PENDING', 'QUEUED', 'RUNNING', 'VERIFYING', 'SUCCEEDED', 'NEEDS_REVIEW', 'FAILED', 'FAILED_HELD', 'CANCELLED');

-- CreateEnum
CREATE TYPE "TokenRole" AS ENUM ('viewer', 'operator', 'admin', 'agent');

-- CreateTable
CREATE TABLE "Host" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "agentId" TEXT NOT NULL,
    "labels" JSONB NOT NULL DEFAULT '{}',
    "state" "HostState" NOT NULL DEFAULT 'REGISTERED',
    "hardware" TEXT NOT NULL,
    "kernel" TEXT NOT NULL,
    "bootId" TEXT NOT NULL,
    "lastHeartbeat" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Host_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Kernel" (
    "id" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "image" TEXT NOT NULL,
    "initrd" TEXT,
    "cmdline" TEXT NOT NULL DEFAULT '',
    "sha256" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Kernel_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Rollout" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kernelId" TEXT NOT NULL,
    "strategy" TEXT NOT NULL,
    "policy" JSONB NOT NULL,
    "phase" "RolloutPhase" NOT NULL DEFAULT 'PENDING',
    "phaseReason" TEXT,
    "idempotencyKey" TEXT,
    "createdBy" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Rollout_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Wave" (
    "id" TEXT NOT NULL,
    "rolloutId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "hostCount" INTEGER NOT NULL,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Wave_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "HostUpdate" (
    "id" TEXT NOT NULL,
    "rolloutId" TEXT NOT NULL,
    "waveId" TEXT,
    "hostId" TEXT NOT NULL,
    "state" "HostUpdateState" NOT NULL DEFAULT 'PENDING',
    "attempt" INTEGER NOT NULL DEFAULT 1,
    "dispatchEpoch" INTEGER NOT NULL DEFAULT 0,
    "claimedBy" TEXT,
    "claimedAt" TIMESTAMP(3),
    "fromKernel" TEXT,
    "toKernel" TEXT NOT NULL,
    "fromBootId" TEXT,
    "toBootId" TEXT,
    "blackoutMs" DOUBLE PRECISION,
    "failureReason" TEXT,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "HostUpdate_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UpdateStep" (
    "id" TEXT NOT NULL,
    "updateId" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "step" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL,
    "finishedAt" TIMESTAMP(3),
    "durationMs" DOUBLE PRECISION,
    "detail" JSONB,

    CONSTRAINT "UpdateStep_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Snapshot" (
    "id" TEXT NOT NULL,
    "updateId" TEXT NOT NULL,
    "phase" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "encoding" TEXT NOT NULL,
    "sizeBytes" INTEGER NOT NULL,
    "storedBytes" INTEGER NOT NULL,
    "digest" TEXT NOT NULL,
    "data" BYTEA NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Snapshot_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "VerdictRecord" (
    "id" TEXT NOT NULL,
    "updateId" TEXT NOT NULL,
    "verdict" TEXT NOT NULL,
    "reasons" JSONB NOT NULL,
    "diff" JSONB,
    "faults" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "VerdictRecord_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "target" TEXT,
    "detail" JSONB,

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "role" "TokenRole" NOT NULL,
    "hash" TEXT NOT NULL,
    "hostId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ControllerLease" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "holder" TEXT NOT NULL,
    "epoch" INTEGER NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ControllerLease_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "IdempotencyRecord" (
    "key" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "response" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "IdempotencyRecord_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE UNIQUE INDEX "Host_name_key" ON "Host"("name");

-- CreateIndex
CREATE INDEX "Host_agentId_idx" ON "Host"("agentId");

-- CreateIndex
CREATE INDEX "Host_state_idx" ON "Host"("state");

-- CreateIndex
CREATE UNIQUE INDEX "Rollout_idempotencyKey_key" ON "Rollout"("idempotencyKey");

-- CreateIndex
CREATE INDEX "Rollout_phase_idx" ON "Rollout"("phase");

-- CreateIndex
CREATE UNIQUE INDEX "Wave_rolloutId_index_key" ON "Wave"("rolloutId", "index");

-- CreateIndex
CREATE INDEX "HostUpdate_hostId_idx" ON "HostUpdate"("hostId");

-- CreateIndex
CREATE INDEX "HostUpdate_state_idx" ON "HostUpdate"("state");

-- CreateIndex
CREATE UNIQUE INDEX "HostUpdate_rolloutId_hostId_key" ON "HostUpdate"("rolloutId", "hostId");

-- CreateIndex
CREATE UNIQUE INDEX "UpdateStep_updateId_attempt_step_key" ON "UpdateStep"("updateId", "attempt", "step");

-- CreateIndex
CREATE UNIQUE INDEX "Snapshot_updateId_phase_key" ON "Snapshot"("updateId", "phase");

-- CreateIndex
CREATE UNIQUE INDEX "VerdictRecord_updateId_key" ON "VerdictRecord"("updateId");

-- CreateIndex
CREATE INDEX "AuditEvent_at_idx" ON "AuditEvent"("at");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_hash_key" ON "ApiToken"("hash");

-- AddForeignKey
ALTER TABLE "Rollout" ADD CONSTRAINT "Rollout_kernelId_fkey" FOREIGN KEY ("kernelId") REFERENCES "Kernel"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Wave" ADD CONSTRAINT "Wave_rolloutId_fkey" FOREIGN KEY ("rolloutId") REFERENCES "Rollout"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "HostUpdate" ADD CONSTRAINT "HostUpdate_rolloutId_fkey" FOREIGN KEY ("rolloutId") REFERENCES "Rollout"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "HostUpdate" ADD CONSTRAINT "HostUpdate_waveId_fkey" FOREIGN KEY ("waveId") REFERENCES "Wave"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "HostUpdate" ADD CONSTRAINT "HostUpdate_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UpdateStep" ADD CONSTRAINT "UpdateStep_updateId_fkey" FOREIGN KEY ("updateId") REFERENCES "HostUpdate"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Snapshot" ADD CONSTRAINT "Snapshot_updateId_fkey" FOREIGN KEY ("updateId") REFERENCES "HostUpdate"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "VerdictRecord" ADD CONSTRAINT "VerdictRecord_updateId_fkey" FOREIGN KEY ("updateId") REFERENCES "HostUpdate"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ApiToken" ADD CONSTRAINT "ApiToken_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
