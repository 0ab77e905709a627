/**
 * VT-d DMA-remapping fault reason codes, as recorded in the FR field of a fault recording
 * register. Names and values from the VT-d spec (§7.1.3, "Non-recoverable fault conditions",
 * legacy-mode reasons 0x1-0xD and scalable-mode reasons 0x30+ named SCT.x / SPD.x / SPT.x /
 * SSL.x / SGN.x), as the kernel prints them (drivers/iommu/intel/dmar.c `dma_remap_fault_reasons`,
 * `dma_remap_sm_fault_reasons`) and QEMU names them (hw/i386/intel_iommu_internal.h
 * `VTDFaultReason`).
 */
export const VTD_FR = {
  // Legacy mode (RTADDR.TTM = 00), dma_remap_fault_reasons[]
  ROOT_ENTRY_P: 0x01,
  CONTEXT_ENTRY_P: 0x02,
  CONTEXT_ENTRY_INV: 0x03,
  ADDR_BEYOND_MGAW: 0x04,
  WRITE: 0x05,
  READ: 0x06,
  PAGING_ENTRY_INV: 0x07,
  ROOT_TABLE_INV: 0x08,
  CONTEXT_TABLE_INV: 0x09,
  ROOT_ENTRY_RSVD: 0x0a,
  CONTEXT_ENTRY_RSVD: 0x0b,
  PAGING_ENTRY_RSVD: 0x0c,
  CONTEXT_ENTRY_TT: 0x0d,
  // Scalable mode (RTADDR.TTM = 01), dma_remap_sm_fault_reasons[]
  SM_RTADDR_INV: 0x30,
  SM_TTM0_WITH_PASID: 0x31,
  SM_TTM0_PAGE_GROUP: 0x32,
  SM_ROOT_ENTRY_ACCESS: 0x38,
  SM_ROOT_ENTRY_P: 0x39,
  SM_ROOT_ENTRY_RSVD: 0x3a,
  SM_CONTEXT_ENTRY_ACCESS: 0x40,
  SM_CONTEXT_ENTRY_P: 0x41,
  SM_CONTEXT_ENTRY_RSVD: 0x42,
  SM_CONTEXT_ENTRY_INV: 0x43,
  SM_CONTEXT_DTE_CLEAR: 0x44,
  SM_CONTEXT_PASIDE_CLEAR: 0x45,
  SM_PASID_BEYOND_PDTS: 0x46,
  SM_CONTEXT_PRE_CLEAR: 0x47,
  SM_RID_PASID_ERROR: 0x48,
  SM_PASID_DIR_ACCESS: 0x50,
  SM_PASID_DIR_P: 0x51,
  SM_PASID_DIR_RSVD: 0x52,
  SM_PASID_ENTRY_ACCESS: 0x58,
  SM_PASID_ENTRY_P: 0x59,
  SM_PASID_ENTRY_RSVD: 0x5a,
  SM_PASID_ENTRY_INV: 0x5b,
  SM_SL_ENTRY_ACCESS: 0x78,
  SM_SL_RW_NESTED: 0x79,
  SM_SL_ENTRY_RSVD: 0x7a,
  SM_SLPTPTR_INV: 0x7b,
  SM_ADDR_BEYOND_MGAW: 0x83,
  SM_SL_ADDR_BEYOND_HAW: 0x84,
  SM_WRITE: 0x85,
  SM_READ: 0x86,
} as const

export type VtdFaultReason = (typeof VTD_FR)[keyof typeof VTD_FR]

/** The kernel's text for each reason (dmar.c), for logs and reports. */
const DESCRIPTIONS = new Map<number, string>([
  [0x01, 'Present bit in root entry is clear'],
  [0x02, 'Present bit in context entry is clear'],
  [0x03, 'Invalid context entry'],
  [0x04, 'Access beyond MGAW'],
  [0x05, 'PTE Write access is not set'],
  [0x06, 'PTE Read access is not set'],
  [0x07, 'Next page table ptr is invalid'],
  [0x08, 'Root table address invalid'],
  [0x09, 'Context table ptr is invalid'],
  [0x0a, 'non-zero reserved fields in RTP'],
  [0x0b, 'non-zero reserved fields in CTP'],
  [0x0c, 'non-zero reserved fields in PTE'],
  [0x0d, 'PCE for translation request specifies blocking'],
  [0x30, 'SM: Invalid Root Table Address'],
  [0x31, 'SM: TTM 0 for request with PASID'],
  [0x32, 'SM: TTM 0 for page group request'],
  [0x38, 'SM: Error attempting to access Root Entry'],
  [0x39, 'SM: Present bit in Root Entry is clear'],
  [0x3a, 'SM: Non-zero reserved field set in Root Entry'],
  [0x40, 'SM: Error attempting to access Context Entry'],
  [0x41, 'SM: Present bit in Context Entry is clear'],
  [0x42, 'SM: Non-zero reserved field set in the Context Entry'],
  [0x43, 'SM: Invalid Context Entry'],
  [0x44, 'SM: DTE field in Context Entry is clear'],
  [0x45, 'SM: PASID Enable field in Context Entry is clear'],
  [0x46, 'SM: PASID is larger than the max in Context Entry'],
  [0x47, 'SM: PRE field in Context-Entry is clear'],
  [0x48, 'SM: RID_PASID field error in Context-Entry'],
  [0x50, 'SM: Error attempting to access the PASID Directory Entry'],
  [0x51, 'SM: Present bit in Directory Entry is clear'],
  [0x52, 'SM: Non-zero reserved field set in PASID Directory Entry'],
  [0x58, 'SM: Error attempting to access PASID Table Entry'],
  [0x59, 'SM: Present bit in PASID Table Entry is clear'],
  [0x5a, 'SM: Non-zero reserved field set in PASID Table Entry'],
  [0x5b, 'SM: Invalid Scalable-Mode PASID Table Entry'],
  [0x78, 'SM: Error attempting to access second-level paging entry'],
  [0x79, 'SM: Read/Write permission error in second-level paging entry'],
  [0x7a, 'SM: Non-zero reserved field set in second-level paging entry'],
  [0x7b, 'SM: Invalid second-level page table pointer'],
  [0x83, 'SM: Address beyond the DMA hardware max'],
  [0x84, 'SM: Second-level entry address beyond the max'],
  [0x85, 'SM: No write permission for Write/AtomicOp request'],
  [0x86, 'SM: No read permission for Read/AtomicOp request'],
])

export function describeFaultReason(reason: number): string {
  return DESCRIPTIONS.get(reason) ?? 'Unknown'
}

/** True for the scalable-mode reasons (0x30 and up), as dmar_get_fault_reason() splits them. */
export const isScalableModeReason = (reason: number): boolean => reason >= 0x30
