/**
 * An in-memory `localStorage` for unit tests (it satisfies both `SyncStorage` in editor/autosave.ts
 * and `KeyValueStorage` in editor/myBlocks.ts). `failWith`, when set, is thrown by `setItem`, as a
 * full storage throws.
 */
export class MemoryStorage {
  readonly map = new Map<string, string>();
  failWith: unknown = null;
  getItem(k: string): string | null {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    if (this.failWith) throw this.failWith;
    this.map.set(k, v);
  }
  removeItem(k: string): void {
    this.map.delete(k);
  }
  key(i: number): string | null {
    return [...this.map.keys()][i] ?? null;
  }
  get length(): number {
    return this.map.size;
  }
}
