import { fail } from '../errno.js'

/** iommufd object types (drivers/iommu/iommufd/iommufd_private.h `enum iommufd_object_type`). */
export type ObjectType = 'ioas' | 'hwpt_paging' | 'device'

export interface IommufdObject {
  readonly id: number
  readonly type: ObjectType
  /**
   * Other objects holding this one (an HWPT holds its IOAS, a device its HWPT): while non-zero,
   * IOMMU_DESTROY answers EBUSY (iommufd_object_remove: the users refcount is not 1).
   */
  users: number
}

/**
 * The context's object table (`ictx->objects`, an xarray with XA_FLAGS_ALLOC1 and xa_limit_31b):
 * ids start at 1 and xa_alloc hands out the lowest free one, so a freed id is reused — ids name
 * objects, not histories (the real-kernel lane sees the same).
 */
export class ObjectTable {
  private readonly objects = new Map<number, IommufdObject>()

  /** The lowest free id ≥ 1. */
  nextId(): number {
    let id = 1
    while (this.objects.has(id)) id++
    return id
  }

  insert<T extends IommufdObject>(obj: T): T {
    if (this.objects.has(obj.id)) throw new Error(`object id ${obj.id} in use`)
    this.objects.set(obj.id, obj)
    return obj
  }

  remove(id: number): void {
    this.objects.delete(id)
  }

  /** iommufd_get_object(ictx, id, type): ENOENT if absent or of another type. */
  get<T extends IommufdObject>(id: number, type: ObjectType, call: string): T {
    const o = this.objects.get(id)
    if (!o || o.type !== type) fail('ENOENT', call, `no ${type} with id ${id}`)
    return o as T
  }

  find(id: number): IommufdObject | undefined {
    return this.objects.get(id)
  }

  all(): IommufdObject[] {
    return [...this.objects.values()].sort((a, b) => a.id - b.id)
  }

  ofType<T extends IommufdObject>(type: ObjectType): T[] {
    return this.all().filter((o) => o.type === type) as T[]
  }
}
