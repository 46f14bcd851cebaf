// One shared WebAssembly.Memory that holds every tensor (weights, activations, caches), so wasm kernels and
// worker threads can later address all of it without copies. A first-fit allocator with coalescing free list.
// Leaves out: memory64 (models over 4 GiB) and per-thread arenas; those come with the issues that need them.

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const ALIGN = 64;

interface Block { ptr: number; size: number }

export class Heap {
  readonly memory: WebAssembly.Memory;
  private free: Block[] = []; // sorted by ptr, coalesced
  private top: number;        // first byte never handed out
  private live = new Map<number, number>(); // ptr -> size
  private liveBytes = 0;

  constructor(initialBytes = 16 * 1024 * 1024) {
    const pages = Math.max(1, Math.ceil(initialBytes / PAGE));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
    this.top = ALIGN; // keep address 0 unused so a null pointer is never valid
  }

  /** Allocates `bytes` (rounded up to 64) and returns the byte offset. Contents are zeroed. */
  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`heap: invalid allocation size ${bytes}`);
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let ptr = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.size < size) continue;
      ptr = b.ptr;
      if (b.size === size) this.free.splice(i, 1);
      else { b.ptr += size; b.size -= size; }
      break;
    }
    if (ptr < 0) {
      ptr = this.top;
      this.ensure(ptr + size);
      this.top += size;
    }
    new Uint8Array(this.memory.buffer, ptr, size).fill(0);
    this.live.set(ptr, size);
    this.liveBytes += size;
    return ptr;
  }

  release(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new Error(`heap: release of unknown pointer ${ptr}`);
    this.live.delete(ptr);
    this.liveBytes -= size;
    if (ptr + size === this.top) { this.top = ptr; this.trimTop(); return; }
    let i = 0;
    while (i < this.free.length && this.free[i].ptr < ptr) i++;
    this.free.splice(i, 0, { ptr, size });
    this.coalesce(i);
  }

  get bytesInUse(): number { return this.liveBytes; }
  get capacity(): number { return this.memory.buffer.byteLength; }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) {
      throw new Error(`heap: out of memory: need ${end} bytes, the wasm32 limit is 4 GiB`);
    }
    // Grow geometrically so a run of allocations does not grow page by page.
    const want = Math.min(MAX_PAGES - have / PAGE, Math.max(pages, Math.ceil(have / PAGE / 4)));
    this.memory.grow(want);
  }

  private coalesce(i: number): void {
    const f = this.free;
    if (i + 1 < f.length && f[i].ptr + f[i].size === f[i + 1].ptr) { f[i].size += f[i + 1].size; f.splice(i + 1, 1); }
    if (i > 0 && f[i - 1].ptr + f[i - 1].size === f[i].ptr) { f[i - 1].size += f[i].size; f.splice(i, 1); }
  }

  private trimTop(): void {
    const last = this.free[this.free.length - 1];
    if (last && last.ptr + last.size === this.top) { this.top = last.ptr; this.free.pop(); }
  }
}
