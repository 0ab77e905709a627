export * from './cpu-store-port.js'
