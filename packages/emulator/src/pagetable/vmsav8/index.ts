export * from './builder.js'
export * from './descriptor.js'
export * from './walk.js'
