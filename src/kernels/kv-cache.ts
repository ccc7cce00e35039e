/**
 * How a KV cache holds its keys and values: f32, or f16 packed two to a u32 (half the memory
 * and half the bytes attention reads; pack2x16float / unpack2x16float are core WGSL, so no
 * device feature is needed). The kernels that write the cache (the RoPE epilogue, the q/k norm
 * kernel) and the ones that read it (attention) are written against small accessors, and this
 * file gives each its bindings and accessors for the format:
 *
 *   writers: store_k(i, x), store_v(i, x)   value i of the (capacity, NKV, HD) cache
 *   readers: key4(i), and value(i) or value4(i) (values 4i .. 4i + 3)
 *
 * An f16 value shares its u32 with a neighbour that another thread may be writing at the same
 * time, so f16 stores are two atomics on the word: clear this half, then set it.
 */

export type KvFormat = 'f32' | 'f16';

/** Bytes one cached value takes. */
export const kvValueBytes = (format: KvFormat) => (format === 'f16' ? 2 : 4);

/** The cache bindings of a writer (at `binding` and `binding + 1`) and store_k / store_v. */
export function kvWriteCode(format: KvFormat, binding: number): string {
  if (format === 'f32') {
    return `
@group(0) @binding(${binding}) var<storage, read_write> k_cache: array<f32>;      // (capacity, NKV, HD)
@group(0) @binding(${binding + 1}) var<storage, read_write> v_cache: array<f32>;  // (capacity, NKV, HD)
fn store_k(i: u32, x: f32) { k_cache[i] = x; }
fn store_v(i: u32, x: f32) { v_cache[i] = x; }
`;
  }
  return `
@group(0) @binding(${binding}) var<storage, read_write> k_cache: array<atomic<u32>>;      // (capacity, NKV, HD / 2)
@group(0) @binding(${binding + 1}) var<storage, read_write> v_cache: array<atomic<u32>>;  // (capacity, NKV, HD / 2)
// Value i is the low (i even) or high half of word i / 2.
fn kv_half(i: u32, x: f32) -> u32 { return (pack2x16float(vec2f(x, 0.0)) & 0xffffu) << (16u * (i % 2u)); }
fn kv_keep(i: u32) -> u32 { return select(0xffff0000u, 0x0000ffffu, i % 2u == 1u); }
fn store_k(i: u32, x: f32) {
  atomicAnd(&k_cache[i / 2u], kv_keep(i));
  atomicOr(&k_cache[i / 2u], kv_half(i, x));
}
fn store_v(i: u32, x: f32) {
  atomicAnd(&v_cache[i / 2u], kv_keep(i));
  atomicOr(&v_cache[i / 2u], kv_half(i, x));
}
`;
}

/**
 * The cache bindings of a reader (2 and 3) and key4, with value(i) for a kernel that reads
 * values one at a time (attention.wgsl) or value4(i) for one that reads them in fours.
 */
export function kvReadCode(format: KvFormat, values: 'one' | 'four'): string {
  const keys =
    format === 'f32'
      ? `@group(0) @binding(2) var<storage, read> k_cache: array<vec4f>;  // (capacity, NKV, HD / 4), rotated
fn key4(i: u32) -> vec4f { return k_cache[i]; }`
      : `@group(0) @binding(2) var<storage, read> k_cache: array<vec2u>;  // (capacity, NKV, HD / 4) f16 quads, rotated
fn quad(w: vec2u) -> vec4f { return vec4f(unpack2x16float(w.x), unpack2x16float(w.y)); }
fn key4(i: u32) -> vec4f { return quad(k_cache[i]); }`;
  const vals = {
    f32: {
      one: `@group(0) @binding(3) var<storage, read> v_cache: array<f32>;  // (capacity, NKV, HD)
fn value(i: u32) -> f32 { return v_cache[i]; }`,
      four: `@group(0) @binding(3) var<storage, read> v_cache: array<vec4f>;  // (capacity, NKV, HD / 4)
fn value4(i: u32) -> vec4f { return v_cache[i]; }`,
    },
    f16: {
      one: `@group(0) @binding(3) var<storage, read> v_cache: array<u32>;  // (capacity, NKV, HD / 2) f16 pairs
fn value(i: u32) -> f32 { return unpack2x16float(v_cache[i / 2u])[i % 2u]; }`,
      four: `@group(0) @binding(3) var<storage, read> v_cache: array<vec2u>;  // (capacity, NKV, HD / 4) f16 quads
fn value4(i: u32) -> vec4f { return quad(v_cache[i]); }`,
    },
  }[format][values];
  return `\n${keys}\n${vals}\n`;
}
