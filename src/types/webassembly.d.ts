// The part of the WebAssembly JS API that qiusuo uses. Node provides it at run time; TypeScript only ships these
// declarations in the DOM/webworker libs, which would bring browser globals into a Node package.

declare namespace WebAssembly {
  interface MemoryDescriptor { initial: number; maximum?: number; shared?: boolean }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(delta: number): number;
  }
}
