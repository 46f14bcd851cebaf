// Hand-worked checks of the reference safetensors reader: FP8 e4m3fn codes, block scales, BF16/F16, shards.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyBlockScale, decodeBF16, decodeE4M3, decodeF16, loadCheckpoint } from "./safetensors-f64.js";
import { writeModelDir } from "./st-writer.js";

test("FP8 e4m3fn decode of specific codes", () => {
  assert.equal(decodeE4M3(0x00), 0);
  assert.ok(Object.is(decodeE4M3(0x80), -0), "Object.is(decodeE4M3(0x80), -0)");
  assert.equal(decodeE4M3(0x01), 2 ** -9); // smallest subnormal: (1/8) * 2^(1-7)
  assert.equal(decodeE4M3(0x07), (7 / 8) * 2 ** -6); // largest subnormal
  assert.equal(decodeE4M3(0x08), 2 ** -6); // smallest normal: exponent 1 -> 2^(1-7)
  assert.equal(decodeE4M3(0x38), 1.0); // exponent 7 = bias
  assert.equal(decodeE4M3(0x3c), 1.5); // mantissa 4 -> 1 + 4/8
  assert.equal(decodeE4M3(0x40), 2.0);
  assert.equal(decodeE4M3(0xb8), -1.0);
  assert.equal(decodeE4M3(0x7e), 448); // 1.75 * 2^8, the largest finite
  assert.equal(decodeE4M3(0xfe), -448);
  assert.equal(decodeE4M3(0x78), 256); // exponent 15 is a normal exponent in e4m3fn (no infinities)
  assert.ok(Number.isNaN(decodeE4M3(0x7f)), "Number.isNaN(decodeE4M3(0x7f))");
  assert.ok(Number.isNaN(decodeE4M3(0xff)), "Number.isNaN(decodeE4M3(0xff))");
});

test("BF16 and F16 decode", () => {
  assert.equal(decodeBF16(0x3f80), 1);
  assert.equal(decodeBF16(0xc040), -3);
  assert.equal(decodeBF16(0x3e20), 0.15625);
  assert.equal(decodeF16(0x3c00), 1);
  assert.equal(decodeF16(0xc000), -2);
  assert.equal(decodeF16(0x0001), 2 ** -24);
  assert.equal(decodeF16(0x7bff), 65504);
  assert.equal(decodeF16(0xfc00), -Infinity);
  assert.ok(Number.isNaN(decodeF16(0x7e00)), "Number.isNaN(decodeF16(0x7e00))");
});

// 3x5 matrix, block [2, 2] -> scale_inv is [ceil(3/2), ceil(5/2)] = [2, 3] = [[1,2,3],[4,5,6]].
// codes all 0x38 (1.0) except (2,4) = 0x40 (2.0) and (0,0) = 0x3c (1.5).
// W[i][j] = value * scale[i/2|0][j/2|0]:
//   row0: [1.5*1, 1, 2, 2, 3]   row1: [1, 1, 2, 2, 3]   row2: [4, 4, 5, 5, 2*6 = 12]
const CODES = new Uint8Array([0x3c, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x38, 0x40]);
const SCALE = [1, 2, 3, 4, 5, 6];
const EXPECTED = [1.5, 1, 2, 2, 3, 1, 1, 2, 2, 3, 4, 4, 5, 5, 12];

test("block-scale application on a 3x5 matrix with block [2, 2]", () => {
  const values = Float64Array.from(CODES, (c) => decodeE4M3(c));
  assert.deepEqual(Array.from(applyBlockScale(values, 3, 5, Float64Array.from(SCALE), 2, 2)), EXPECTED);
  assert.throws(() => applyBlockScale(values, 3, 5, Float64Array.from([1, 2, 3, 4]), 2, 2));
});

test("checkpoint reader: F8_E4M3 + _scale_inv, F32, BF16, F16 through a real file", () => {
  const bf16 = new Uint8Array([0x80, 0x3f, 0x40, 0xc0]); // LE 0x3f80 = 1, 0xc040 = -3
  const f16 = new Uint8Array([0x00, 0x3c, 0x01, 0x00]); // LE 0x3c00 = 1, 0x0001 = 2^-24
  const dir = writeModelDir(
    { model_type: "deepseek_v3", quantization_config: { quant_method: "fp8", fmt: "e4m3", weight_block_size: [2, 2] } },
    {
      "w.weight": { shape: [3, 5], data: CODES, dtype: "F8_E4M3" },
      "w.weight_scale_inv": { shape: [2, 3], data: SCALE },
      "b.weight": { shape: [2], data: bf16, dtype: "BF16" },
      "h.weight": { shape: [2], data: f16, dtype: "F16" },
      "f.weight": { shape: [2, 2], data: [0.5, -0.25, 3, 1e-3] },
      "bad.weight": { shape: [3, 5], data: CODES, dtype: "F8_E4M3" }, // no scale_inv
    },
  );
  const ck = loadCheckpoint(dir);
  assert.equal(ck.config.model_type, "deepseek_v3");
  assert.deepEqual(Array.from(ck.get("w.weight")!), EXPECTED);
  assert.deepEqual(ck.shape("w.weight"), [3, 5]);
  assert.deepEqual(Array.from(ck.get("b.weight")!), [1, -3]);
  assert.deepEqual(Array.from(ck.get("h.weight")!), [1, 2 ** -24]);
  assert.deepEqual(Array.from(ck.get("f.weight")!), [0.5, -0.25, 3, Math.fround(1e-3)]);
  assert.equal(ck.get("missing"), undefined);
  assert.throws(() => ck.get("bad.weight"), /scale_inv/);
  // default block size is [128, 128]: a 3x5 FP8 tensor then needs a [1, 1] scale
  const dir2 = writeModelDir(
    { model_type: "deepseek_v3" },
    {
      "w.weight": { shape: [3, 5], data: CODES, dtype: "F8_E4M3" },
      "w.weight_scale_inv": { shape: [1, 1], data: [0.5] },
    },
  );
  assert.deepEqual(
    Array.from(loadCheckpoint(dir2).get("w.weight")!),
    [0.75, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1],
  );
});

test("sharded checkpoint via model.safetensors.index.json", () => {
  const tensors: Record<string, { shape: number[]; data: number[] }> = {};
  for (let i = 0; i < 5; i++) tensors[`t${i}`] = { shape: [2], data: [i, -i] };
  const dir = writeModelDir({ hidden_size: 2 }, tensors, 3);
  const ck = loadCheckpoint(dir);
  assert.equal(ck.names().length, 5);
  for (let i = 0; i < 5; i++) assert.deepEqual(Array.from(ck.get(`t${i}`)!), [i, -i]);
  assert.match(ck.info("t1")!.file, /model-00002-of-00003\.safetensors$/);
  // an index naming a tensor that its shard lacks is an error
  writeFileSync(
    join(dir, "model.safetensors.index.json"),
    JSON.stringify({ weight_map: { t0: "model-00001-of-00003.safetensors", ghost: "model-00001-of-00003.safetensors" } }),
  );
  assert.throws(() => loadCheckpoint(dir), /ghost/);
});
