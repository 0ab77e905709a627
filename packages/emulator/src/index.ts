export * from './cpu/index.js'
export * from './iommu/index.js'
export * from './memory/index.js'
