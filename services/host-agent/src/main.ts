// The host agent process: `node --import tsx services/host-agent/src/main.ts [--hosts N]`.
import { exitWithError } from '@hitless/protocol'
import { loadAgentConfig } from './config.js'
import { emulatedFleet, emulatedIommuFleet, seededDurations } from './fleet.js'
import { HostAgent } from './host-agent.js'
import { parseStubFaults } from './runtime/stub-emulated-host.js'

async function main(): Promise<void> {
  const cfg = loadAgentConfig(process.argv.slice(2))
  if (cfg.hosts === 0) {
    throw new Error(
      'running on a real host needs the real-iommufd backend, which is not built yet: use --hosts N for an emulated fleet',
    )
  }
  const seed = process.env.HITLESS_EMU_DURATION_SEED
  // `iommu` (default): hosts on the emulated SMMUv3/VT-d running the real live update. `light`:
  // stub hosts without IOMMU emulation, for scale (the 1,000-host benchmark) and test hooks.
  const light = process.env.HITLESS_EMU_MODE === 'light' || !!seed || !!process.env.HITLESS_EMU_FAULTS
  const fleet = light
    ? emulatedFleet(cfg.agentId, cfg.hosts, cfg.stepMs, {
        faults: parseStubFaults(process.env.HITLESS_EMU_FAULTS),
        ...(seed ? { stepMsFor: seededDurations(Number(seed), cfg.hosts).stepMs } : {}),
        ...(cfg.bootRoot ? { bootRoot: cfg.bootRoot } : {}),
      })
    : await emulatedIommuFleet(cfg.agentId, cfg.hosts, {
        stepMs: cfg.stepMs,
        ...(cfg.bootRoot ? { bootRoot: cfg.bootRoot } : {}),
      })
  const agent = new HostAgent(cfg, fleet, (m) => console.log(m))
  await agent.start()
  const stop = async () => {
    await agent.stop()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch(exitWithError('hitless-agent'))
