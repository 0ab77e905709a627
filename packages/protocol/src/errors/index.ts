export * from './error-codes.js'
export * from './hitless-error.js'
export * from './exit-with-error.js'
