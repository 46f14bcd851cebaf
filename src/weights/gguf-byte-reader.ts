// Sequential little-endian reads from a file through one reusable buffer (1 MiB by default), for GGUF headers that can
// be tens of MB (129k token strings): few syscalls, never the whole file. Every read is checked against the file size
// first, so a corrupt length fails with a message instead of a huge allocation. Knows nothing of GGUF's structure.

import * as fs from 'node:fs';

const DEFAULT_CHUNK = 1 << 20;
const REPLACEMENT_CHAR = '\uFFFD';

export class ByteReader {
  /** What is being read, for error messages, e.g. `metadata key "general.name"`; set by the parser. */
  context = 'the header';
  private buf: Buffer;
  private bufStart = 0; // file offset of buf[0]
  private bufLen = 0;
  private position = 0;

  constructor(
    private readonly fd: number,
    private readonly file: string,
    readonly size: number,
    chunk = DEFAULT_CHUNK,
  ) {
    this.buf = Buffer.allocUnsafe(chunk);
  }

  /** File offset of the next byte to read. */
  get pos(): number {
    return this.position;
  }

  get remaining(): number {
    return this.size - this.position;
  }

  fail(message: string): never {
    throw new Error(`${this.file}: ${this.context}: ${message}`);
  }

  /** Index in `buf` where `n` bytes at the current position start, loading them if needed; advances past them. */
  private take(n: number): number {
    if (n > this.size - this.position) {
      this.fail(`needs bytes ${this.position}..${this.position + n} but the file ends at ${this.size} (truncated?)`);
    }
    let at = this.position - this.bufStart;
    if (at < 0 || at + n > this.bufLen) {
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
      const want = Math.min(this.buf.length, this.size - this.position);
      let got = 0;
      while (got < n) {
        const r = fs.readSync(this.fd, this.buf, got, want - got, this.position + got);
        if (r === 0) this.fail(`file shrank while reading: ended at ${this.position + got}`);
        got += r;
      }
      this.bufStart = this.position;
      this.bufLen = got;
      at = 0;
    }
    this.position += n;
    return at;
  }

  u8(): number {
    return this.buf[this.take(1)]!;
  }
  i8(): number {
    return this.buf.readInt8(this.take(1));
  }
  u16(): number {
    return this.buf.readUInt16LE(this.take(2));
  }
  i16(): number {
    return this.buf.readInt16LE(this.take(2));
  }
  u32(): number {
    return this.buf.readUInt32LE(this.take(4));
  }
  i32(): number {
    return this.buf.readInt32LE(this.take(4));
  }
  f32(): number {
    return this.buf.readFloatLE(this.take(4));
  }
  f64(): number {
    return this.buf.readDoubleLE(this.take(8));
  }

  /** A u64 as a number; refuses values of 2^53 or more. */
  u64(): number {
    const at = this.take(8);
    const lo = this.buf.readUInt32LE(at);
    const hi = this.buf.readUInt32LE(at + 4);
    const v = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(v)) this.fail(`u64 value ${this.buf.readBigUInt64LE(at)} is beyond 2^53 (not representable here)`);
    return v;
  }

  /** An i64 as a number; refuses values beyond ±(2^53 - 1). */
  i64(): number {
    const at = this.take(8);
    const lo = this.buf.readUInt32LE(at);
    const hi = this.buf.readInt32LE(at + 4);
    const v = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(v)) this.fail(`i64 value ${this.buf.readBigInt64LE(at)} is beyond ±2^53 (not representable here)`);
    return v;
  }

  /** Raw bytes (a view into the reusable buffer: valid until the next read). */
  bytes(n: number): Buffer {
    const at = this.take(n);
    return this.buf.subarray(at, at + n);
  }

  /** A GGUF string: u64 byte length, then that many UTF-8 bytes (no NUL); checked against the file before reading. */
  string(): string {
    const n = this.u64();
    if (n > this.remaining) this.fail(`string of ${n} bytes at byte ${this.position - 8} runs past the end of the ${this.size}-byte file (truncated file or corrupt length)`);
    const at = this.take(n);
    const s = this.buf.toString('utf8', at, at + n);
    // toString replaces invalid sequences silently; only a string showing a replacement char needs the strict check.
    if (s.includes(REPLACEMENT_CHAR)) {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(this.buf.subarray(at, at + n));
      } catch {
        this.fail(`string at byte ${this.position - n} is not valid UTF-8`);
      }
    }
    return s;
  }
}
