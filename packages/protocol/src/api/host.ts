import Type from 'typebox'
import { HardwareSchema } from '../enums/hardware.js'
import { LabelsSchema } from './common.js'
import { HostUpdateSchema } from './update.js'
import { HOST_EXAMPLE, HOST_UPDATE_EXAMPLE } from './examples.js'

export const HOST_STATES = ['REGISTERED', 'READY', 'CORDONED', 'UPDATING', 'FAILED_HELD', 'OFFLINE'] as const
export type HostState = (typeof HOST_STATES)[number]
export const HostStateSchema = Type.Enum(HOST_STATES)

export const HostSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    agentId: Type.String(),
    labels: LabelsSchema,
    state: HostStateSchema,
    hardware: HardwareSchema,
    kernel: Type.String(),
    bootId: Type.String(),
    lastHeartbeat: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'Host', examples: [HOST_EXAMPLE] },
)
export type Host = Type.Static<typeof HostSchema>

export const HostListQuerySchema = Type.Object({
  state: Type.Optional(HostStateSchema),
  /** Label selector `key=value,key2=value2` (all must match). */
  selector: Type.Optional(Type.String({ maxLength: 1000 })),
})

/** One host with its update history, newest first. */
export const HostDetailSchema = Type.Object(
  { ...HostSchema.properties, updates: Type.Array(HostUpdateSchema) },
  { $id: 'HostDetail', examples: [{ ...HOST_EXAMPLE, updates: [HOST_UPDATE_EXAMPLE] }] },
)
export type HostDetail = Type.Static<typeof HostDetailSchema>
