import { PAGE_SIZE } from '@hitless/emulator'
import type { FaultInjection } from '@hitless/protocol'
import { type AreaColumns, areaList, areasFrom, type HandoverState } from '../handover/handover-format.js'

/** The IOAS whose areas the state injections change. */
const TARGET = 'ioas:guest'
const SIZE_2M = 2 * 1024 * 1024

type AreaRow = ReturnType<typeof areaList>[number]

function mutateAreas(a: AreaColumns, kind: FaultInjection, fileSizes: number[]): AreaColumns {
  const list = areaList(a)
  const ramAreas = list.filter((x) => x.length < SIZE_2M)
  const mid = list.indexOf(ramAreas[Math.floor(ramAreas.length / 2)] ?? list[0])
  switch (kind) {
    case 'drop-mapping':
      list.splice(mid, 1)
      break
    case 'extra-mapping': {
      const last = list[list.length - 1]
      list.push({ ...last, iova: last.iova + last.length + SIZE_2M, length: PAGE_SIZE, offset: 0 })
      break
    }
    case 'alter-perm':
      list[mid] = { ...list[mid], write: !list[mid].write }
      break
    case 'shift-pa': {
      const x = list[mid]
      const off =
        x.offset + x.length + PAGE_SIZE <= fileSizes[x.file] ? x.offset + PAGE_SIZE : x.offset - PAGE_SIZE
      list[mid] = { ...x, offset: off }
      break
    }
    case 'leaf-size': {
      // The 2 MiB block mapped as two 1 MiB halves: the same pages, 4 KiB leaves.
      const i = list.findIndex((x) => x.length === SIZE_2M)
      if (i >= 0) {
        const h: AreaRow = list[i]
        list.splice(
          i,
          1,
          { ...h, length: SIZE_2M / 2 },
          { ...h, iova: h.iova + SIZE_2M / 2, length: SIZE_2M / 2, offset: h.offset + SIZE_2M / 2 },
        )
      }
      break
    }
  }
  return areasFrom(list)
}

const AREA_KINDS = new Set<FaultInjection>([
  'drop-mapping',
  'extra-mapping',
  'alter-perm',
  'shift-pa',
  'leaf-size',
])

/**
 * Applies the state injections to what crosses the kexec, as a buggy old kernel or VMM would get
 * it wrong: in the serialised IOAS (what serialise rebuilds from) and in the userspace record
 * (what the replay strategies replay) alike; `move-device` attaches the first device to the other
 * HWPT. The blob stays well formed (checksum and references valid): these are lies, not damage.
 */
export function injectIntoState(s: HandoverState, kinds: ReadonlySet<FaultInjection>): HandoverState {
  let out = s
  const sizes = s.memfds.map((m) => m.size)
  for (const kind of kinds) {
    if (AREA_KINDS.has(kind)) {
      out = {
        ...out,
        ioas: out.ioas.map((io) =>
          io.key === TARGET ? { ...io, areas: mutateAreas(io.areas, kind, sizes) } : io,
        ),
        userspace: out.userspace && {
          ...out.userspace,
          ioas: out.userspace.ioas.map((io) =>
            io.key === TARGET ? { ...io, maps: mutateAreas(io.maps, kind, sizes) } : io,
          ),
        },
      }
    } else if (kind === 'move-device') {
      const other = (key: string) => out.hwpts.find((h) => h.key !== key)
      const first = out.devices[0]
      if (first) {
        const cur = out.hwpts.find((h) => h.id === first.hwptId)
        const to = cur ? other(cur.key) : undefined
        out = { ...out, devices: [{ ...first, hwptId: to?.id ?? 0 }, ...out.devices.slice(1)] }
      }
      if (out.userspace?.attachments.length) {
        const a = out.userspace.attachments[0]
        const keys = [...new Set(out.userspace.hwpts.map((h) => h.key))]
        const to = keys.find((k) => k !== a.hwptKey) ?? a.hwptKey
        out = {
          ...out,
          userspace: {
            ...out.userspace,
            attachments: [{ ...a, hwptKey: to }, ...out.userspace.attachments.slice(1)],
          },
        }
      }
    }
  }
  return out
}

/** Damage to the encoded blob between the kernels. */
export function injectIntoBlob(blob: Uint8Array, kinds: ReadonlySet<FaultInjection>): Uint8Array {
  let out = blob
  if (kinds.has('corrupt-blob')) {
    out = Uint8Array.from(out)
    out[Math.floor(out.length / 2)] ^= 0x40
  }
  if (kinds.has('truncate-blob')) out = out.subarray(0, Math.floor(out.length * 0.6))
  return out
}
