export * from './host-update-job.js'
export * from './queue-names.js'
export * from './verify-job.js'
