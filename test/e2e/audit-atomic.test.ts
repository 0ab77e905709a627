// Every operator action and its audit entry land together or not at all: the entry is written in
// the action's own transaction. A trigger that makes the audit insert fail stands in for the
// database refusing it; the action must then leave nothing behind. Refused actions (409) write
// no entry; cordon is one conditional write that never overwrites a host's UPDATING state.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Host, Rollout } from '@hitless/protocol'
import { loadAgentConfig } from '../../services/host-agent/src/config.js'
import { emulatedFleet } from '../../services/host-agent/src/fleet.js'
import { HostAgent } from '../../services/host-agent/src/host-agent.js'
import { api, KERNEL, startPlatform, type TestPlatform, waitFor } from '../support/platform.js'

let p: TestPlatform
let agent: HostAgent | undefined

before(async () => {
  p = await startPlatform({ loopMs: 100 })
  await p.db.$executeRawUnsafe(`CREATE TABLE refused_audit (action text PRIMARY KEY)`)
  await p.db.$executeRawUnsafe(`
    CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM refused_audit WHERE action = NEW.action) THEN
        RAISE EXCEPTION 'audit store refused %', NEW.action;
      END IF;
      RETURN NEW;
    END $$`)
  await p.db.$executeRawUnsafe(
    `CREATE TRIGGER refuse_audit BEFORE INSERT ON "AuditEvent" FOR EACH ROW EXECUTE FUNCTION refuse_audit()`,
  )
})
after(async () => {
  await agent?.stop()
  await p?.close()
})

/** Makes the audit insert of these actions fail (and only these). */
async function refuseAudit(...actions: string[]): Promise<void> {
  await p.db.$executeRawUnsafe(`DELETE FROM refused_audit`)
  for (const a of actions) await p.db.$executeRawUnsafe(`INSERT INTO refused_audit VALUES ($1)`, a)
}

const audits = (action: string, target?: string) =>
  p.db.auditEvent.count({ where: { action, ...(target ? { target } : {}) } })

test('an action whose audit entry cannot be written is not done; with it, both land once', async () => {
  const cfg = loadAgentConfig(['--hosts', '4', '--agent-id', 'emu-aud'], {
    ...p.agentEnv,
    HITLESS_EMU_STEP_MS: '400',
  })
  agent = new HostAgent(cfg, emulatedFleet('emu-aud', 4, cfg.stepMs))
  await agent.start()
  const body = {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { labels: { fleet: 'emu-aud' } },
    policy: { canary: 1, waves: ['100%'], maxConcurrent: 1, onUnverified: 'continue' },
  }

  await refuseAudit('rollout.create', 'rollout.pause', 'token.create', 'host.cordon', 'kernel.register')
  const kernel = { ...KERNEL, version: '7.2.13-audit' }
  assert.equal((await api(p, p.adminToken, 'POST', '/api/v1/kernels', kernel)).status, 500)
  assert.equal(
    await p.db.kernel.count({ where: { version: kernel.version } }),
    0,
    'no kernel without its entry',
  )
  const refused = await api(p, p.adminToken, 'POST', '/api/v1/rollouts', body)
  assert.equal(refused.status, 500, JSON.stringify(refused.body))
  assert.equal(await p.db.rollout.count(), 0, 'no rollout without its audit entry')
  assert.equal(await p.db.hostUpdate.count(), 0)
  const token = await api(p, p.adminToken, 'POST', '/api/v1/tokens', { name: 'ci', role: 'viewer' })
  assert.equal(token.status, 500)
  assert.equal(await p.db.apiToken.count({ where: { name: 'ci' } }), 0, 'no token without its audit entry')
  const [spare] = (
    await p.db.host.findMany({ where: { agentId: 'emu-aud' }, orderBy: { name: 'asc' } })
  ).slice(-1)
  assert.equal((await api(p, p.adminToken, 'POST', `/api/v1/hosts/${spare.id}/cordon`)).status, 500)
  assert.equal((await p.db.host.findUniqueOrThrow({ where: { id: spare.id } })).state, 'READY')

  await refuseAudit('rollout.pause')
  assert.equal((await api(p, p.adminToken, 'POST', '/api/v1/kernels', kernel)).status, 201)
  assert.equal(await audits('kernel.register'), 1)
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    ...body,
    selector: { names: ['emu-aud-h000', 'emu-aud-h001', 'emu-aud-h002'] },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  const id = created.body.id
  assert.equal(await audits('rollout.create', id), 1)
  const pause = await api(p, p.adminToken, 'POST', `/api/v1/rollouts/${id}/pause`, { reason: 'look' })
  assert.equal(pause.status, 500)
  assert.equal((await p.db.rollout.findUniqueOrThrow({ where: { id } })).phase, 'RUNNING', 'not paused')

  await refuseAudit()
  assert.equal(
    (await api(p, p.adminToken, 'POST', `/api/v1/rollouts/${id}/pause`, { reason: 'look' })).status,
    200,
  )
  const entry = await p.db.auditEvent.findFirstOrThrow({ where: { action: 'rollout.pause', target: id } })
  assert.deepEqual(entry.detail, { phase: 'PAUSED', reason: 'look' })
  // A refused action (409: already paused) writes no entry.
  assert.equal((await api(p, p.adminToken, 'POST', `/api/v1/rollouts/${id}/pause`)).status, 409)
  assert.equal(await audits('rollout.pause', id), 1)
  assert.equal((await api(p, p.adminToken, 'POST', `/api/v1/rollouts/${id}/abort`)).status, 200)
  assert.equal(await audits('rollout.abort', id), 1)
})

test('cordon: READY only, idempotent, audited once; an updating host is a 409 and stays UPDATING', async () => {
  const [, , , h3] = await p.db.host.findMany({ where: { agentId: 'emu-aud' }, orderBy: { name: 'asc' } })
  const cordon = (id: string, verb = 'cordon') =>
    api<Host & { message?: string }>(p, p.adminToken, 'POST', `/api/v1/hosts/${id}/${verb}`)
  const first = await cordon(h3.id)
  assert.equal(first.status, 200, JSON.stringify(first.body))
  assert.equal(first.body.state, 'CORDONED')
  assert.equal((await cordon(h3.id)).status, 200, 'cordoning a cordoned host is a no-op')
  assert.equal(await audits('host.cordon', h3.id), 1)
  assert.equal((await cordon(h3.id, 'uncordon')).body.state, 'READY')
  assert.equal((await cordon(h3.id, 'uncordon')).status, 200, 'uncordoning a READY host is a no-op')
  assert.equal(await audits('host.uncordon', h3.id), 1)

  // A host busy in a rollout (slow steps: it stays UPDATING long enough to ask).
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { names: [h3.name] },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  await waitFor(
    'h3 updating',
    async () => (await p.db.host.findUniqueOrThrow({ where: { id: h3.id } })).state === 'UPDATING',
  )
  const busy = await cordon(h3.id)
  assert.equal(busy.status, 409)
  assert.match(
    busy.body.message ?? '',
    /has an update RUNNING in rollout ro-.*: cordon it once that update ends/,
  )
  assert.equal((await p.db.host.findUniqueOrThrow({ where: { id: h3.id } })).state, 'UPDATING')
  assert.equal(await audits('host.cordon', h3.id), 1, 'only the earlier cordon')
  const notCordoned = await cordon(h3.id, 'uncordon')
  assert.equal(notCordoned.status, 409)
  assert.match(notCordoned.body.message ?? '', /not CORDONED/)
})

test('a READY host whose update is already queued cannot be cordoned (its agent would make it UPDATING)', async () => {
  // A host with no agent consuming its queue: its update stays QUEUED while the host is READY.
  const enrol = await api<{ hosts: { id: string }[] }>(p, p.adminToken, 'POST', '/api/v1/agent/enrol', {
    agentId: 'idle',
    hosts: [{ name: 'idle-1', hardware: 'vtd-legacy', kernel: '6.19', bootId: 'b-idle-1' }],
  })
  const hostId = enrol.body.hosts[0].id
  const created = await api<Rollout>(p, p.adminToken, 'POST', '/api/v1/rollouts', {
    kernel: KERNEL,
    strategy: 'serialise',
    selector: { names: ['idle-1'] },
  })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  await waitFor(
    'queued',
    async () => (await p.db.hostUpdate.findFirst({ where: { hostId } }))?.state === 'QUEUED',
  )
  assert.equal((await p.db.host.findUniqueOrThrow({ where: { id: hostId } })).state, 'READY')
  const r = await api<{ message: string }>(p, p.adminToken, 'POST', `/api/v1/hosts/${hostId}/cordon`)
  assert.equal(r.status, 409)
  assert.match(
    r.body.message,
    /has an update QUEUED in rollout .*: cordon it once that update ends, or abort the rollout/,
  )
  assert.equal((await p.db.host.findUniqueOrThrow({ where: { id: hostId } })).state, 'READY')
  // Aborted, the update is cancelled: the host can be cordoned, and a later dispatch skips it.
  assert.equal((await api(p, p.adminToken, 'POST', `/api/v1/rollouts/${created.body.id}/abort`)).status, 200)
  assert.equal((await api(p, p.adminToken, 'POST', `/api/v1/hosts/${hostId}/cordon`)).status, 200)
})
