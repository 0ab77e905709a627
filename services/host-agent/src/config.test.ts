import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadAgentConfig } from './config.js'

const env = { HITLESS_URL: 'http://127.0.0.1:1', HITLESS_ENROL_TOKEN: 't', REDIS_URL: 'redis://127.0.0.1:1' }

test('HITLESS_BOOT_ROOT: unset reads paths as given; set, an absolute root; relative refused', () => {
  assert.equal(loadAgentConfig(['--hosts', '2'], env).bootRoot, undefined)
  assert.equal(
    loadAgentConfig(['--hosts', '2'], { ...env, HITLESS_BOOT_ROOT: '/srv/hosts/' }).bootRoot,
    '/srv/hosts',
  )
  assert.throws(
    () => loadAgentConfig(['--hosts', '2'], { ...env, HITLESS_BOOT_ROOT: 'hosts' }),
    /HITLESS_BOOT_ROOT must be an absolute path/,
  )
})
