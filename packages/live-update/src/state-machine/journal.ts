import type { Strategy, UpdateStep } from '@hitless/protocol'

export type StepStatus = 'running' | 'done' | 'failed'

export interface StepRecord {
  status: StepStatus
  startedAt: number
  durationMs?: number
  detail?: Record<string, unknown>
  error?: string
}

/** The outcome of an update: completed, failed with the old state live, or failed and held. */
export type UpdateOutcome = 'completed' | 'failed' | 'failed-held'

/**
 * The agent's own record of one update, written before and after every step so that an agent
 * that dies anywhere resumes where it was (docs/live-update.md, "The state machine").
 */
export interface UpdateJournal {
  updateId: string
  strategy: Strategy
  targetKernel: string
  /** Boot ID before KEXEC: a resumed agent that finds another knows the kexec happened. */
  preBootId?: string
  steps: Partial<Record<UpdateStep, StepRecord>>
  outcome?: UpdateOutcome
  reason?: string
}

/** Where a journal persists: a file on a real host, the emulated machine's disk here. */
export interface JournalStore {
  load(updateId: string): UpdateJournal | undefined
  save(j: UpdateJournal): void
}

/** A journal on a key-value disk that survives agent crashes and kexec (the emulated machine's). */
export class DiskJournalStore implements JournalStore {
  constructor(private readonly disk: Map<string, unknown>) {}

  load(updateId: string): UpdateJournal | undefined {
    const s = this.disk.get(`journal/${updateId}`)
    return typeof s === 'string' ? (JSON.parse(s) as UpdateJournal) : undefined
  }

  save(j: UpdateJournal): void {
    // Serialised, as a file would be: nothing of the agent's memory leaks into the next agent.
    this.disk.set(`journal/${j.updateId}`, JSON.stringify(j))
  }
}
