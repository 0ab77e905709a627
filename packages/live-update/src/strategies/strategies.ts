import type { Strategy } from '@hitless/protocol'
import { freshSwitch } from './fresh-switch.js'
import { naive } from './naive.js'
import { replayVerify } from './replay-verify.js'
import type { RestoreStrategy } from './restore-strategy.js'
import { serialise } from './serialise.js'

export const RESTORE_STRATEGIES: Record<Strategy, RestoreStrategy> = {
  serialise,
  'replay-verify': replayVerify,
  'fresh-switch': freshSwitch,
  naive,
}
