import type { AreaTable, LeafTable } from './snapshot.js'

/**
 * The columns of each table, in the order they are laid out, with their element width. The
 * encoder and decoder both walk these lists, so the layout is written down once.
 */
export type ColumnType = 'f64' | 'u32' | 'u8'
export const WIDTH: Record<ColumnType, number> = { f64: 8, u32: 4, u8: 1 }

export const AREA_COLUMNS: readonly { name: keyof AreaTable & string; type: ColumnType }[] = [
  { name: 'iova', type: 'f64' },
  { name: 'pages', type: 'f64' },
  { name: 'offset', type: 'f64' },
  { name: 'file', type: 'u32' },
  { name: 'prot', type: 'u8' },
]

export const LEAF_COLUMNS: readonly {
  name: keyof LeafTable & string
  type: ColumnType
  /** Present only when the capability holds. */
  needs?: 'physicalAddresses' | 'backing'
}[] = [
  { name: 'iova', type: 'f64' },
  { name: 'pa', type: 'f64', needs: 'physicalAddresses' },
  { name: 'offset', type: 'f64', needs: 'backing' },
  { name: 'file', type: 'u32', needs: 'backing' },
  { name: 'sizeLog2', type: 'u8' },
  { name: 'prot', type: 'u8' },
]

export function view(
  type: ColumnType,
  buffer: ArrayBufferLike,
  offset: number,
  count: number,
): ArrayBufferView {
  switch (type) {
    case 'f64':
      return new Float64Array(buffer, offset, count)
    case 'u32':
      return new Uint32Array(buffer, offset, count)
    case 'u8':
      return new Uint8Array(buffer, offset, count)
  }
}

/** Typed-array views over the host's memory are little-endian only on little-endian hosts. */
export const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1
