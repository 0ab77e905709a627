export * from './error-codes.js'
export * from './hitless-error.js'
