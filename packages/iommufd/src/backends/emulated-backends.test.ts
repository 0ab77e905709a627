import { runContractSuite } from '../contract/contract-suite.js'
import { createEmulatedSmmuv3 } from './emulated-smmuv3.js'
import { createEmulatedVtd } from './emulated-vtd.js'

runContractSuite('emulated-smmuv3 (BBML0)', () => createEmulatedSmmuv3({ memoryBytes: 16 * 1024 * 1024 }))
runContractSuite('emulated-smmuv3 (BBML2)', () =>
  createEmulatedSmmuv3({ bbml: 2, memoryBytes: 16 * 1024 * 1024 }),
)
runContractSuite('emulated-vtd (legacy)', () => createEmulatedVtd({ memoryBytes: 16 * 1024 * 1024 }))
runContractSuite('emulated-vtd (scalable)', () =>
  createEmulatedVtd({ scalable: true, memoryBytes: 16 * 1024 * 1024 }),
)
