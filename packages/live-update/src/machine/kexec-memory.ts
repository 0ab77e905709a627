import { PAGE_SIZE, type PhysicalMemory } from '@hitless/emulator'

/** The firmware's frames (and the kernel image): no allocator hands them out, no kexec poisons them. */
export const FIRMWARE_FRAMES = 16

/**
 * What a kexec leaves of memory: every frame the old kernel did not mark preserved in the KHO
 * map (`khoMap[frame] !== 0`) is overwritten with poison (0xdeadbeef), firmware's frames aside.
 * A new kernel that leaned on anything else — an old kernel's object, a table it forgot to
 * preserve — finds poison. Both modes kexec through this. Poisoned run by run (the same bytes as
 * frame by frame, far fewer fill calls).
 */
export function poisonUnpreserved(memory: PhysicalMemory, khoMap: Uint8Array): void {
  let f = FIRMWARE_FRAMES
  while (f < khoMap.length) {
    if (khoMap[f]) {
      f++
      continue
    }
    const start = f
    while (f < khoMap.length && !khoMap[f]) f++
    memory.poison(start * PAGE_SIZE, (f - start) * PAGE_SIZE)
  }
}
