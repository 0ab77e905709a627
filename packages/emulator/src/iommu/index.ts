export * from './translator.js'
