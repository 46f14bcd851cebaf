// A one-consumer async queue: the producer pushes values and ends (or fails) it; the consumer iterates it with
// for-await. Stopping the iteration early (break, return, throw) calls `onCancel`, so the producer can stop too.

export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly values: T[] = [];
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  private ended = false;
  private error: unknown = null;

  constructor(private readonly onCancel: () => void = () => {}) {}

  push(v: T): void {
    if (this.ended) return;
    if (this.waiting) { const w = this.waiting; this.waiting = null; w.resolve({ value: v, done: false }); } else this.values.push(v);
  }

  end(): void { this.settle(null); }

  fail(e: unknown): void { this.settle(e); }

  get done(): boolean { return this.ended; }

  next(): Promise<IteratorResult<T>> {
    if (this.values.length > 0) return Promise.resolve({ value: this.values.shift()!, done: false });
    if (this.error !== null) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => { this.waiting = { resolve, reject }; });
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.ended) { this.settle(null); this.onCancel(); }
    this.values.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> { return this; }

  private settle(e: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = e;
    const w = this.waiting;
    this.waiting = null;
    if (!w) return;
    if (e !== null) w.reject(e); else w.resolve({ value: undefined, done: true });
  }
}
