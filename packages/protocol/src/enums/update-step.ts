import Type from 'typebox'

/** The host agent's live-update steps, in order. */
export const UPDATE_STEPS = [
  'PREFLIGHT',
  'SNAPSHOT_PRE',
  'PRESERVE',
  'KEXEC',
  'RESTORE',
  'SNAPSHOT_POST',
  'FINISH',
] as const
export type UpdateStep = (typeof UPDATE_STEPS)[number]
export const UpdateStepSchema = Type.Enum(UPDATE_STEPS)
