// One shared WebAssembly.Memory that holds every tensor (weights, activations, caches), so wasm kernels and
// worker threads can later address all of it without copies. A first-fit allocator with coalescing free list.
// Leaves out: memory64 (models over 4 GiB) and per-thread arenas; those come with the issues that need them.

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const ALIGN = 64;

// TypedArray.fill on a SharedArrayBuffer is an element-by-element loop in V8, while wasm's memory.fill is a
// memset. This module, assembled by hand, is `(import "env" "memory" (memory 1 65536 shared))
// (func (export "zero") (param i32 i32) (memory.fill (local.get 0) (i32.const 0) (local.get 1)))`.
const ZERO_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                                     // magic, version 1
  0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00,                                     // types: (i32, i32) → ()
  0x02, 0x12, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, // import "env" "memory":
  0x02, 0x03, 0x01, 0x80, 0x80, 0x04,                                                 //   memory, shared, 1..65536 pages
  0x03, 0x02, 0x01, 0x00,                                                             // functions: one of type 0
  0x07, 0x08, 0x01, 0x04, 0x7a, 0x65, 0x72, 0x6f, 0x00, 0x00,                         // export "zero" = function 0
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x41, 0x00, 0x20, 0x01, 0xfc, 0x0b, 0x00, 0x0b, // code: memory.fill
]);
let zeroModule: WebAssembly.Module | null = null;

interface Block { ptr: number; size: number }

export class Heap {
  readonly memory: WebAssembly.Memory;
  private free: Block[] = []; // sorted by ptr, coalesced
  private top: number;        // first byte never handed out
  private live = new Map<number, number>(); // ptr -> size
  private liveBytes = 0;
  /** Sets `bytes` bytes from `ptr` to zero (wasm memory.fill). */
  readonly zero: (ptr: number, bytes: number) => void;

  constructor(initialBytes = 16 * 1024 * 1024) {
    const pages = Math.max(1, Math.ceil(initialBytes / PAGE));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
    this.top = ALIGN; // keep address 0 unused so a null pointer is never valid
    zeroModule ??= new WebAssembly.Module(ZERO_MODULE);
    this.zero = new WebAssembly.Instance(zeroModule, { env: { memory: this.memory } }).exports.zero as (ptr: number, bytes: number) => void;
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
    this.zero(ptr, size);
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
