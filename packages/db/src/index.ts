export * from './client.js'
export * from './migrations/apply-migrations.js'
export * from './test-database.js'
export * from './sql.js'
