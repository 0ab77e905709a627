// The DMA worker of concurrent mode: runs the devices' accesses in a loop on its own thread, over
// the SharedArrayBuffer of emulated memory, through an IOMMU built by `translatorModule` (which
// owns that IOMMU's caches and polls its doorbells). See concurrent-dma.ts.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads'
import type { IommuTranslator } from '../iommu/translator.js'
import { PhysicalMemory } from '../memory/physical-memory.js'
import { CTRL, type ConcurrentDeviceData, type ConcurrentWorkerData } from './concurrent-dma.js'
import { DmaEngine } from './dma-engine.js'
import { SeededRandom } from './seeded-random.js'
import { WorkingSet } from './working-set.js'

interface TranslatorModule {
  createConcurrentTranslator(
    options: unknown,
    memory: PhysicalMemory,
  ): { translator: IommuTranslator; poll(): void; stats?(): unknown }
}

const data = workerData as ConcurrentWorkerData
const memory = new PhysicalMemory(data.memory)
const ctrl = new Int32Array(data.control)
const mod = (await import(data.translatorModule)) as TranslatorModule
const iommu = mod.createConcurrentTranslator(data.translatorOptions, memory)
const rng = new SeededRandom(data.seed)
const engine = new DmaEngine(iommu.translator, rng)
function addDevice(d: ConcurrentDeviceData): void {
  const ws = new WorkingSet(d.iova.length)
  ws.iova.set(d.iova)
  ws.pa.set(d.pa)
  ws.perm.set(d.perm)
  engine.addDevice({
    name: d.name,
    requesterId: d.requesterId,
    pasid: d.pasid,
    workingSet: ws,
    rate: d.rate,
    writeFraction: d.writeFraction,
  })
}
for (const d of data.devices) addDevice(d)

/** Devices added while running (ConcurrentDma.addDevices): taken between loop turns. */
function takeHotplugged(): void {
  for (let m = receiveMessageOnPort(data.hotplug); m; m = receiveMessageOnPort(data.hotplug)) {
    for (const d of m.message as ConcurrentDeviceData[]) addDevice(d)
    parentPort?.postMessage({ type: 'devices-added' })
  }
}
parentPort?.postMessage({ type: 'ready' })

const cold = data.coldProbability
let turn = 0
let groundTruth = 0
while (Atomics.load(ctrl, CTRL.STOP) === 0) {
  iommu.poll()
  // The hot-plug port is looked at every 256 turns (a few hundred microseconds), not every turn:
  // receiveMessageOnPort costs more than a turn of DMA.
  if ((turn++ & 255) === 0) takeHotplugged()
  if (Atomics.load(ctrl, CTRL.RUN) === 0) {
    takeHotplugged()
    Atomics.wait(ctrl, CTRL.RUN, 0, 0.2)
    continue
  }
  let n = 0
  for (const d of engine.devices) {
    const whole = Math.floor(d.rate)
    const count = whole + (rng.chance(d.rate - whole) ? 1 : 0)
    for (let j = 0; j < count; j++) {
      engine.setCold(rng.chance(cold))
      engine.randomAccess(d)
      n++
    }
  }
  engine.setCold(false)
  Atomics.add(ctrl, CTRL.ACCESSES, n)
  const g = engine.groundTruthTotal
  if (g !== groundTruth) {
    Atomics.add(ctrl, CTRL.GROUND_TRUTH, g - groundTruth)
    groundTruth = g
  }
}
iommu.poll()
parentPort?.postMessage({
  type: 'done',
  devices: engine.devices.map((d) => ({
    name: d.name,
    requesterId: d.config.requesterId,
    counters: d.counters,
  })),
  violations: engine.violations,
  stats: iommu.stats?.(),
})
