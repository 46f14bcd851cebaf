// AssemblyScript twin of src/kernels/ref/quantize.ts's fake quantisation, bit for bit: bf16 rounding, and FP8 (E4M3)
// groups with s = f32(amax/448) (1 for an all-zero group, 2^-149 where it underflows), value = f32(e4m3(f32(x/s))·s);
// a group holding NaN/±Inf is copied unchanged. Every output belongs to one group and each group to one thread, so
// out may alias x. Leaves out the scales (the training path never reads them) and argument checks (backward.ts).
//
// Shapes: rows × cols, row-major. Pointers are heap byte offsets. Each export ends in (start, end, thread).

@inline function at(p: usize, i: i32): usize { return p + ((<usize>i) << 2); }

const SIGN: v128 = i32x4.splat(0x80000000);
const E4M3_MAX: f32 = 448;
const SMALLEST_F32: f32 = 1.401298464324817e-45;  // 2^-149
const E4M3_MIN_NORMAL: f32 = 0.015625;            // 2^-6: below it E4M3 steps by 2^-9
const SUBNORMAL_MAGIC: f32 = 16384;               // 2^14, whose f32 ulp is 2^-9: (a + 2^14) − 2^14 rounds a to it

/**
 * The E4M3 value nearest q (ties to even, saturating at ±448), lane by lane, for finite q. Normals keep 3 of the
 * f32 mantissa bits, rounded on the bits (a carry steps the exponent); below 2^-6 the f32 adder rounds to 2^-9 steps.
 * The sign is put back last, so −0 and negatives that round to zero stay −0 as in the codec.
 */
@inline function e4m3Round(q: v128): v128 {
  const a = v128.andnot(q, SIGN);
  const lsb = v128.and(i32x4.shr_u(a, 20), i32x4.splat(1));
  const normal = v128.and(i32x4.add(i32x4.add(a, i32x4.splat(0x7ffff)), lsb), i32x4.splat(0xfff00000));
  const magic = f32x4.splat(SUBNORMAL_MAGIC);
  const subnormal = f32x4.sub(f32x4.add(a, magic), magic);
  const r = v128.bitselect(subnormal, normal, f32x4.lt(a, f32x4.splat(E4M3_MIN_NORMAL)));
  return v128.or(f32x4.min(r, f32x4.splat(E4M3_MAX)), v128.and(q, SIGN));
}

/** f32(e4m3(f32(x/s))·s), lane by lane. */
@inline function fp8Value(x: v128, s: v128): v128 { return f32x4.mul(e4m3Round(f32x4.div(x, s)), s); }

/** The group scale of each lane's amax (finite): 1 for 0, else max(f32(amax/448), 2^-149). */
@inline function scaleOf(amax: v128): v128 {
  const s = f32x4.max(f32x4.div(amax, f32x4.splat(E4M3_MAX)), f32x4.splat(SMALLEST_F32));
  return v128.bitselect(f32x4.splat(1), s, f32x4.eq(amax, f32x4.splat(0)));
}

/** Whether a (an amax, ≥ 0 or NaN) is finite. */
@inline function finite(a: f32): bool { return a <= f32.MAX_VALUE; }

/** max |x| over n values at p, NaN if any is NaN (f32.max propagates it). */
function amaxSpan(p: usize, n: i32, acc: f32): f32 {
  let v = f32x4.splat(0), i = 0;
  for (; i + 4 <= n; i += 4) v = f32x4.max(v, f32x4.abs(v128.load(at(p, i))));
  for (; i < n; i++) acc = max(acc, abs(load<f32>(at(p, i))));
  const m = max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
  return max(acc, m);
}

/** o[0..n) = the fp8 values of x[0..n) in a group of scale s. */
function applySpan(o: usize, x: usize, n: i32, s: f32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(o, i), fp8Value(v128.load(at(x, i)), sv));
  for (; i < n; i++) store<f32>(at(o, i), f32x4.extract_lane(fp8Value(f32x4.splat(load<f32>(at(x, i))), sv), 0));
}

/** One group: rows r0..r1 (cols apart) × bn values from column c0; amax first, then the values (so out may alias x). */
function group(o: usize, x: usize, r0: i32, r1: i32, c0: i32, bn: i32, cols: i32): void {
  let amax: f32 = 0;
  for (let r = r0; r < r1; r++) amax = amaxSpan(at(x, r * cols + c0), bn, amax);
  if (!finite(amax)) {
    if (o != x) for (let r = r0; r < r1; r++) memory.copy(at(o, r * cols + c0), at(x, r * cols + c0), <usize>bn << 2);
    return;
  }
  const s = f32x4.extract_lane(scaleOf(f32x4.splat(amax)), 0);
  for (let r = r0; r < r1; r++) applySpan(at(o, r * cols + c0), at(x, r * cols + c0), bn, s);
}

/** bf16, elements i ∈ [start, end): round to nearest even on the bits; NaN keeps sign and top payload, made quiet. */
export function quantBf16(o: usize, x: usize, start: i32, end: i32, thread: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(at(o, i), bf16Round(v128.load(at(x, i))));
  for (; i < end; i++) store<f32>(at(o, i), f32x4.extract_lane(bf16Round(f32x4.splat(load<f32>(at(x, i)))), 0));
}

@inline function bf16Round(b: v128): v128 {
  const lsb = v128.and(i32x4.shr_u(b, 16), i32x4.splat(1));
  const high = i32x4.splat(0xffff0000);
  const rounded = v128.and(i32x4.add(i32x4.add(b, i32x4.splat(0x7fff)), lsb), high);
  const quietNaN = v128.and(v128.or(b, i32x4.splat(0x00400000)), high);
  const isNaN = i32x4.gt_s(v128.andnot(b, SIGN), i32x4.splat(0x7f800000));
  return v128.bitselect(quietNaN, rounded, isNaN);
}

/** fp8-tiles, rows r ∈ [start, end): groups of 1×block along the row (the last one partial). */
export function quantTiles(o: usize, x: usize, cols: i32, block: i32, start: i32, end: i32, thread: i32): void {
  for (let r = start; r < end; r++) {
    for (let c0 = 0; c0 < cols; c0 += block) group(o, x, r, r + 1, c0, min(block, cols - c0), cols);
  }
}

/** fp8-blocks, blocks b ∈ [start, end) of the ⌈rows/block⌉ × ⌈cols/block⌉ grid, row-major. */
export function quantBlocks(o: usize, x: usize, rows: i32, cols: i32, block: i32, start: i32, end: i32, thread: i32): void {
  const across = (cols + block - 1) / block;
  for (let b = start; b < end; b++) {
    const r0 = (b / across) * block, c0 = (b % across) * block;
    group(o, x, r0, min(r0 + block, rows), c0, min(block, cols - c0), cols);
  }
}

/**
 * fp8-col-tiles, columns c ∈ [start, end): groups of block×1 down each column. Four neighbouring columns go together,
 * one per SIMD lane (each lane its own amax, scale and finiteness), so rows are read along memory; leftover columns
 * one by one.
 */
export function quantColTiles(o: usize, x: usize, rows: i32, cols: i32, block: i32, start: i32, end: i32, thread: i32): void {
  let c = start;
  for (; c + 4 <= end; c += 4) {
    for (let r0 = 0; r0 < rows; r0 += block) {
      const r1 = min(r0 + block, rows);
      let amax = f32x4.splat(0);
      for (let r = r0; r < r1; r++) amax = f32x4.max(amax, f32x4.abs(v128.load(at(x, r * cols + c))));
      const ok = f32x4.le(amax, f32x4.splat(f32.MAX_VALUE)), s = scaleOf(amax);
      for (let r = r0; r < r1; r++) {
        const xv = v128.load(at(x, r * cols + c));
        v128.store(at(o, r * cols + c), v128.bitselect(fp8Value(xv, s), xv, ok));
      }
    }
  }
  for (; c < end; c++) {
    for (let r0 = 0; r0 < rows; r0 += block) group(o, x, r0, min(r0 + block, rows), c, 1, cols);
  }
}

/** fp8-tensor, first pass: parts[thread] = max |x| over elements [start, end) (NaN if any is NaN). */
export function quantAmaxParts(parts: usize, x: usize, start: i32, end: i32, thread: i32): void {
  store<f32>(at(parts, thread), amaxSpan(at(x, start), end - start, 0));
}

/** fp8-tensor, second pass: elements [start, end) with the tensor's scale s (finite amax only). */
export function quantScaled(o: usize, x: usize, s: f32, start: i32, end: i32, thread: i32): void {
  applySpan(at(o, start), at(x, start), end - start, s);
}
