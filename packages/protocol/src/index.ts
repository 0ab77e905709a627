export * from './enums/index.js'
export * from './errors/index.js'
