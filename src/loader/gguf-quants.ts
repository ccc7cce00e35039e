/**
 * llama.cpp's tensor types (ggml's `ggml_type`): how many values a block holds and how many
 * bytes it takes, and the values of the blocks Tandem reads, computed as ggml's reference
 * `dequantize_row_*` (ggml-quants.c) computes them, in f32, operation by operation:
 *
 *   Q4_0  d f16, 16 bytes: value j at the low nibble of byte j, value j + 16 at its high one;
 *         w = (q - 8) d
 *   Q4_1  d, m f16, the nibbles as Q4_0;                     w = q d + m
 *   Q5_0  d f16, qh u32 (the fifth bits), nibbles as Q4_0;   w = (q - 16) d
 *   Q5_1  d, m f16, qh, nibbles;                             w = q d + m
 *   Q8_0  d f16, 32 int8;                                    w = q d
 *   Q4_K  super-blocks of 256: d, dmin f16, 12 bytes of eight 6-bit (scale, min) pairs, 128
 *         bytes of nibbles; each 64 values are 32 low nibbles then 32 high ones of 32 bytes,
 *         the two halves with their own pair:                w = (d sc) q - (dmin m)
 *   Q5_K  Q4_K's layout with 32 bytes of fifth bits (bit 2i and 2i + 1 of byte l for the
 *         i-th 64 values)
 *   Q6_K  128 bytes of low nibbles, 64 of high 2 bits, 16 int8 scales (one per 16 values),
 *         d f16;                                             w = (d sc) (q - 32)
 *   Q2_K  16 bytes of (scale, min) nibbles (one per 16 values), 64 bytes of 2-bit values, d
 *         and dmin f16;                                      w = (d sc) q - (dmin m)
 *   Q3_K  32 bytes of third bits (hmask), 64 of low 2 bits, twelve bytes of sixteen 6-bit
 *         scales, d f16;                                     w = (d (sc - 32)) (q - 4)
 *   In both, each 128 values are four passes over 32 bytes, taking 2 bits at a time (the
 *   lowest first), 16 values of the first 16 bytes, then 16 of the next (each with its scale).
 *
 * and the i-quants, IQ4_NL and IQ4_XS and the 1- to 3-bit IQ types (gguf-iquants.ts).
 *
 * Each is decoded into integers and a (scale, min) per 16 values (`decodeBlocks`), from which
 * `dequantize` forms ggml's values and the GPU layouts are made: Q4_0, Q4_1 and Q4_K stay 4-bit
 * (Q4_0's blocks are MLC's 4-bit groups with another nibble order and zero point, `repackQ4_0`;
 * Q4_1's blocks and Q4_K's sub-blocks groups with a min, `repackQ4Affine`), Q5_0, Q5_1 and Q5_K
 * 5-bit (q5.ts: `repackQ5Affine`), Q6_K 6-bit with its own scales (q6.ts: `repackQ6_K`), Q2_K
 * and K-quants fused with others 6-bit with (scale, min) pairs (q6.ts: `repackQ6Affine`), IQ4_NL
 * and IQ4_XS 4-bit indices into their levels, as are the 1- to 3-bit i-quants into their
 * lattices' values and Q3_K alone into its integers (iq4.ts: `repackLevels`), Q8_0 8-bit with
 * its own scales (q8.ts: `repackQ8_0`), the others become 8-bit groups (q8.ts: `repackQ8`,
 * `repackQ8A`).
 */

import { GgufFormatError, UnsupportedQuantizationError } from '../errors';
import { IQ_DECODERS, IQ_TYPES } from './gguf-iquants';
import { f16ToF32, f32ToF16, readF16 } from './half';
import { type IQ4Matrix, LEVELS, type LevelDType, packIQ4, SCALES_PER_16 } from './iq4';
import { packNibbles } from './q4';
import { packQ5, type Q5Matrix } from './q5';
import { packQ6, packQ6_K, type Q6Matrix } from './q6';

export interface GgmlType {
  name: string;
  /** Values a block holds (1 for plain floats). */
  blockValues: number;
  /** Bytes a block takes. */
  blockBytes: number;
}

/** Every type of ggml.h by id, so that a file in one Tandem does not read is refused by name. */
export const GGML_TYPES: Record<number, GgmlType> = {};
const define = (id: number, name: string, blockValues: number, blockBytes: number) => {
  GGML_TYPES[id] = { name, blockValues, blockBytes };
};
define(0, 'F32', 1, 4);
define(1, 'F16', 1, 2);
define(2, 'Q4_0', 32, 18);
define(3, 'Q4_1', 32, 20);
define(6, 'Q5_0', 32, 22);
define(7, 'Q5_1', 32, 24);
define(8, 'Q8_0', 32, 34);
define(9, 'Q8_1', 32, 36);
define(10, 'Q2_K', 256, 84);
define(11, 'Q3_K', 256, 110);
define(12, 'Q4_K', 256, 144);
define(13, 'Q5_K', 256, 176);
define(14, 'Q6_K', 256, 210);
define(15, 'Q8_K', 256, 292);
define(16, 'IQ2_XXS', 256, 66);
define(17, 'IQ2_XS', 256, 74);
define(18, 'IQ3_XXS', 256, 98);
define(19, 'IQ1_S', 256, 50);
define(20, 'IQ4_NL', 32, 18);
define(21, 'IQ3_S', 256, 110);
define(22, 'IQ2_S', 256, 82);
define(23, 'IQ4_XS', 256, 136);
define(24, 'I8', 1, 1);
define(25, 'I16', 1, 2);
define(26, 'I32', 1, 4);
define(27, 'I64', 1, 8);
define(28, 'F64', 1, 8);
define(29, 'IQ1_M', 256, 56);
define(30, 'BF16', 1, 2);
define(34, 'TQ1_0', 256, 54);
define(35, 'TQ2_0', 256, 66);
define(39, 'MXFP4', 32, 17);

const f16 = readF16;
const fr = Math.fround;

/** The 6-bit (scale, min) pair j of a K-quant's 12 scale bytes at `s` (ggml's get_scale_min_k4). */
function scaleMin(view: DataView, s: number, j: number): [number, number] {
  const q = (i: number) => view.getUint8(s + i);
  if (j < 4) return [q(j) & 63, q(j + 4) & 63];
  return [(q(j + 4) & 0xf) | ((q(j - 4) >> 6) << 4), (q(j + 4) >> 4) | ((q(j) >> 6) << 4)];
}

/**
 * Blocks decoded into groups of 16 values: each value an unsigned integer q, each group a
 * (scale, min), so that q scale - min, in f32, is the value ggml's dequantization gives, bit
 * for bit. Every type Tandem reads has this form: q scale is exact (at most 24 significant
 * bits: an f16's 11 times q's 8, or times a sub-block integer of at most 7 and q of at most 6,
 * or for the i-quants as gguf-iquants.ts says), and the min is what ggml subtracts (Q4_1 and
 * Q5_1: what it adds, negated), or the zero point times the scale (Q4_0: 8, Q5_0: 16, Q6_K: 32,
 * Q8_0 and the i-quants: 128, with q shifted by it), exact, as is the difference then: ggml's
 * exact product.
 */
export interface DecodedGroups {
  q: Uint8Array;
  /** One per 16 values. */
  scales: Float32Array;
  mins: Float32Array;
}

/** Decodes the block at `at` into values from `o` (and groups from o / 16) of `out`. */
export type BlockDecoder = (v: DataView, at: number, out: DecodedGroups, o: number) => void;

/** Both groups of a block of 32 values share a (scale, min). */
function pair(out: DecodedGroups, o: number, scale: number, min: number): void {
  out.scales[o / 16] = out.scales[o / 16 + 1] = scale;
  out.mins[o / 16] = out.mins[o / 16 + 1] = min;
}

/** Q4_0, Q4_1: 16 bytes of nibbles from `qs`, value j low, j + 16 high. */
function nibbles(v: DataView, qs: number, out: DecodedGroups, o: number): void {
  for (let j = 0; j < 16; j++) {
    const byte = v.getUint8(qs + j);
    out.q[o + j] = byte & 0xf;
    out.q[o + j + 16] = byte >> 4;
  }
}

/** Q5_0, Q5_1: the nibbles with their fifth bits from the u32 at `qh`. */
function fifths(v: DataView, qh: number, qs: number, out: DecodedGroups, o: number): void {
  const high = v.getUint32(qh, true);
  for (let j = 0; j < 16; j++) {
    const byte = v.getUint8(qs + j);
    out.q[o + j] = (byte & 0xf) | (((high >>> j) << 4) & 0x10);
    out.q[o + j + 16] = (byte >> 4) | ((high >>> (j + 12)) & 0x10);
  }
}

/**
 * A Q4_K super-block, or a Q5_K one (`fifth`: 32 bytes of fifth bits before the nibbles, bit
 * 2i of byte l for value l of the i-th 64 values' first half, bit 2i + 1 for its second half).
 */
function kQuant(v: DataView, at: number, out: DecodedGroups, o: number, fifth: boolean): void {
  const d = f16(v, at);
  const dmin = f16(v, at + 2);
  const qs = at + (fifth ? 48 : 16);
  for (let sub = 0; sub < 8; sub++) {
    const [sc, m] = scaleMin(v, at + 4, sub);
    pair(out, o + 32 * sub, fr(d * sc), fr(dmin * m));
  }
  for (let part = 0; part < 4; part++) {
    for (let l = 0; l < 32; l++) {
      const byte = v.getUint8(qs + 32 * part + l);
      const high = fifth ? v.getUint8(at + 16 + l) >> (2 * part) : 0;
      out.q[o + 64 * part + l] = (byte & 0xf) | ((high & 1) << 4);
      out.q[o + 64 * part + 32 + l] = (byte >> 4) | ((high & 2) << 3);
    }
  }
}

/**
 * Q2_K, Q3_K: the 2-bit values of a super-block from `qs` into `out.q` from `o` (value
 * n + 32 j + l of each half n of 128 is bits 2j of byte l of its 32), plus `high(i, bit)`.
 */
function twoBits(v: DataView, qs: number, out: DecodedGroups, o: number, high: (l: number, bit: number) => number) {
  for (let half = 0; half < 2; half++) {
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) {
        const low = (v.getUint8(qs + 32 * half + l) >> (2 * j)) & 3;
        out.q[o + 128 * half + 32 * j + l] = low | high(l, 4 * half + j);
      }
    }
  }
}

const DECODERS: Record<string, BlockDecoder> = {
  Q4_0(v, at, out, o) {
    const d = f16(v, at);
    pair(out, o, d, fr(8 * d));
    nibbles(v, at + 2, out, o);
  },
  Q4_1(v, at, out, o) {
    pair(out, o, f16(v, at), -f16(v, at + 2));
    nibbles(v, at + 4, out, o);
  },
  Q5_0(v, at, out, o) {
    const d = f16(v, at);
    pair(out, o, d, fr(16 * d));
    fifths(v, at + 2, at + 6, out, o);
  },
  Q5_1(v, at, out, o) {
    pair(out, o, f16(v, at), -f16(v, at + 2));
    fifths(v, at + 4, at + 8, out, o);
  },
  Q8_0(v, at, out, o) {
    const d = f16(v, at);
    pair(out, o, d, fr(128 * d));
    for (let j = 0; j < 32; j++) out.q[o + j] = v.getInt8(at + 2 + j) + 128;
  },
  Q4_K: (v, at, out, o) => kQuant(v, at, out, o, false),
  Q5_K: (v, at, out, o) => kQuant(v, at, out, o, true),
  Q2_K(v, at, out, o) {
    const d = f16(v, at + 80);
    const dmin = f16(v, at + 82);
    for (let g = 0; g < 16; g++) {
      const sc = v.getUint8(at + g);
      out.scales[o / 16 + g] = fr(d * (sc & 0xf));
      out.mins[o / 16 + g] = fr(dmin * (sc >> 4));
    }
    twoBits(v, at + 16, out, o, () => 0);
  },
  Q3_K(v, at, out, o) {
    const d = f16(v, at + 108);
    // Scale k: a nibble (low of byte k, or high of byte k - 8) and 2 bits of byte 8 + k % 4.
    for (let k = 0; k < 16; k++) {
      const nibble = k < 8 ? v.getUint8(at + 96 + k) & 0xf : v.getUint8(at + 88 + k) >> 4;
      const high = (v.getUint8(at + 104 + (k % 4)) >> (2 * (k >> 2))) & 3;
      const scale = fr(d * ((nibble | (high << 4)) - 32));
      out.scales[o / 16 + k] = scale;
      out.mins[o / 16 + k] = fr(4 * scale);
    }
    // ggml subtracts 4 where a value's hmask bit is clear: q - 4 with q = low + 4 where it is set.
    twoBits(v, at + 32, out, o, (l, bit) => ((v.getUint8(at + l) >> bit) & 1) << 2);
  },
  Q6_K(v, at, out, o) {
    const d = f16(v, at + 208);
    // Scale s covers values 16 s .. 16 s + 15.
    for (let g = 0; g < 16; g++) {
      const scale = fr(d * v.getInt8(at + 192 + g));
      out.scales[o / 16 + g] = scale;
      out.mins[o / 16 + g] = fr(32 * scale);
    }
    for (let half = 0; half < 2; half++) {
      const ql = at + 64 * half;
      const qh = at + 128 + 32 * half;
      const y = o + 128 * half;
      for (let l = 0; l < 32; l++) {
        const low0 = v.getUint8(ql + l);
        const low32 = v.getUint8(ql + l + 32);
        const high = v.getUint8(qh + l);
        out.q[y + l] = (low0 & 0xf) | ((high & 3) << 4);
        out.q[y + l + 32] = (low32 & 0xf) | (((high >> 2) & 3) << 4);
        out.q[y + l + 64] = (low0 >> 4) | (((high >> 4) & 3) << 4);
        out.q[y + l + 96] = (low32 >> 4) | (((high >> 6) & 3) << 4);
      }
    }
  },
  ...IQ_DECODERS,
};

/** The types `dequantize` reads. */
export const DEQUANTIZED_TYPES = Object.keys(DECODERS);

/** Whether values of `type` are plain floats, which stay as they are stored. */
export const isFloatType = (type: GgmlType) => type.name === 'F32' || type.name === 'F16' || type.name === 'BF16';

/** `count` values of a block type stored in `bytes`, as integers and their groups' (scale, min). */
export function decodeBlocks(type: GgmlType, bytes: Uint8Array, count: number, what: string): DecodedGroups {
  const decode = DECODERS[type.name];
  if (!decode) {
    throw new UnsupportedQuantizationError(
      `${what} is ${type.name}, a type Tandem does not read. Use a file in one of ${DEQUANTIZED_TYPES.join(', ')} ` +
        '(Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0 and IQ4_XS files are), F16, BF16 or F32.',
    );
  }
  const out = { q: new Uint8Array(count), scales: new Float32Array(count / 16), mins: new Float32Array(count / 16) };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let block = 0; block < count / type.blockValues; block++) {
    decode(view, block * type.blockBytes, out, block * type.blockValues);
  }
  return out;
}

/**
 * The types that are a signed integer times a scale, and the zero point their q is decoded
 * with (q - zero is ggml's integer).
 */
const SIGNED_ZEROS: Record<string, number> = {
  Q8_0: 128,
  Q6_K: 32,
  Q5_0: 16,
  Q4_0: 8,
  Q3_K: 4,
  ...Object.fromEntries(IQ_TYPES.map((type) => [type, 128])),
};
export const Q8_TYPES = Object.keys(SIGNED_ZEROS);

/**
 * The f32 values of `count` values of a block type stored in `bytes`, as ggml computes them:
 * (q - zero) scale, or q scale - min. (q scale - zero scale is the same value, but +0 where
 * ggml's product is -0: a zero integer times a negative scale.)
 */
export function dequantize(type: GgmlType, bytes: Uint8Array, count: number, what: string): Float32Array {
  const { q, scales, mins } = decodeBlocks(type, bytes, count, what);
  const zero = SIGNED_ZEROS[type.name];
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = zero === undefined ? fr(q[i] * scales[i >> 4] - mins[i >> 4]) : fr((q[i] - zero) * scales[i >> 4]);
  }
  return out;
}

/**
 * ggml's Q4_0 blocks (`count` values) in the layout of MLC's 4-bit groups (q4.ts), which
 * Tandem's kernels read: a block's 32 values are one group, and its f16 scale is the group's
 * (decoded to f32 and back, exactly). Only the nibbles move: (q - 8) d, exactly.
 */
export function repackQ4_0(bytes: Uint8Array, count: number): { weights: Uint32Array; scales: Uint16Array } {
  const { q, scales } = decodeBlocks(GGML_TYPES[2], bytes, count, 'Q4_0');
  return {
    weights: packNibbles(q),
    scales: Uint16Array.from({ length: count / 32 }, (_, b) => f32ToF16(scales[2 * b])),
  };
}

/** The types `repackQ4Affine` takes. */
export const Q4_AFFINE_TYPES = ['Q4_1', 'Q4_K'];

/**
 * ggml's Q4_1 blocks or Q4_K super-blocks (`count` values) as 4-bit groups of 32 in MLC's
 * layout, each with an f16 (scale, min) pair (q4.ts, FORMAT 6), the nibbles reordered. A Q4_1
 * block is a group, its d and -m the pair, exactly (q d - (-m) is ggml's q d + m). A Q4_K
 * super-block's eight sub-blocks are the groups, scale = d sc and min = dmin m rounded to f16
 * once (a relative change of at most 2^-11; ggml keeps them in f32).
 */
export function repackQ4Affine(
  type: GgmlType,
  bytes: Uint8Array,
  count: number,
): { weights: Uint32Array; scales: Uint16Array } {
  if (!Q4_AFFINE_TYPES.includes(type.name)) {
    throw new RangeError(`repackQ4Affine: ${type.name} is not one of ${Q4_AFFINE_TYPES.join(', ')}`);
  }
  const { q, scales, mins } = decodeBlocks(type, bytes, count, type.name);
  const pairs = new Uint16Array((count / 32) * 2);
  for (let g = 0; g < count / 32; g++) {
    pairs[2 * g] = f32ToF16(scales[2 * g]);
    pairs[2 * g + 1] = f32ToF16(mins[2 * g]);
  }
  return { weights: packNibbles(q), scales: pairs };
}

/** The types `repackQ5Affine` takes: those whose blocks are groups of 32 values of at most 5 bits with a (scale, min). */
export const Q5_AFFINE_TYPES = ['Q5_K', 'Q5_0', 'Q5_1', ...Q4_AFFINE_TYPES, 'Q4_0'];

/**
 * ggml blocks of one of Q5_AFFINE_TYPES (`count` values) as 5-bit groups of 32 (q5.ts), each
 * with an f16 (scale, min) pair. For Q5_0, Q5_1, Q4_0 and Q4_1 the pair is exact (d and -m, or
 * d and the zero point times d, both f16 values: q d - 16 d is ggml's (q - 16) d, up to the sign
 * of a zero); a Q5_K or Q4_K sub-block's d sc and dmin m are rounded to f16 once, as Q4_K's are
 * in `repackQ4Affine`.
 */
export function repackQ5Affine(type: GgmlType, bytes: Uint8Array, count: number, what: string): Q5Matrix {
  if (!Q5_AFFINE_TYPES.includes(type.name)) {
    throw new RangeError(`repackQ5Affine: ${type.name} is not one of ${Q5_AFFINE_TYPES.join(', ')}`);
  }
  const { q, scales, mins } = decodeBlocks(type, bytes, count, what);
  const pairs = new Uint16Array((count / 32) * 2);
  for (let g = 0; g < count / 32; g++) f16Pair(pairs, g, scales[2 * g], mins[2 * g], type, what);
  return packQ5(q, pairs);
}

/** The types `repackQ6Affine` takes: the K-quants and the 4- and 5-bit types, integers of at most 6 bits with a (scale, min) per 16 values. */
export const Q6_AFFINE_TYPES = ['Q6_K', 'Q3_K', 'Q2_K', ...Q5_AFFINE_TYPES];

/**
 * ggml blocks of one of Q6_AFFINE_TYPES (`count` values) as 6-bit groups of 32 (q6.ts), each
 * half with an f16 (scale, min) pair: the 4- and 5-bit types' pairs as `repackQ5Affine` makes
 * them; a Q6_K, Q3_K or Q2_K sub-block's scale (d sc) rounded to f16 once, as is Q2_K's min
 * (dmin m), while Q6_K's and Q3_K's is their zero point (32, 4) times the rounded scale, so that
 * each value is (q - zero) scale with that scale.
 */
export function repackQ6Affine(type: GgmlType, bytes: Uint8Array, count: number, what: string): Q6Matrix {
  if (!Q6_AFFINE_TYPES.includes(type.name)) {
    throw new RangeError(`repackQ6Affine: ${type.name} is not one of ${Q6_AFFINE_TYPES.join(', ')}`);
  }
  const { q, scales, mins } = decodeBlocks(type, bytes, count, what);
  const pairs = new Uint16Array((count / 16) * 2);
  const zero = SIGNED_ZEROS[type.name];
  for (let g = 0; g < count / 16; g++) {
    // A zero point times the scale as rounded (a power of two times an f16: exact), so that
    // q scale - min stays (q - zero) scale.
    const min = zero === undefined ? mins[g] : zero * f16ToF32(f32ToF16(scales[g]));
    f16Pair(pairs, g, scales[g], min, type, what);
  }
  return packQ6(q, pairs);
}

/**
 * ggml's Q6_K blocks (`count` values) in the layout of that name (q6.ts: `packQ6_K`), exactly:
 * the values' 6 bits, each block's d and each 16's int8 scale as stored.
 */
export function repackQ6_K(bytes: Uint8Array, count: number, what: string): Q6Matrix {
  const type = GGML_TYPES[14];
  const { q } = decodeBlocks(type, bytes, count, what);
  const blocks = count / type.blockValues;
  const d = new Uint16Array(count / 32); // each group's: its block's
  const sc = new Int8Array(count / 16);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let block = 0; block < blocks; block++) {
    const at = block * type.blockBytes;
    d.fill(view.getUint16(at + 208, true), 8 * block, 8 * block + 8);
    for (let g = 0; g < 16; g++) sc[16 * block + g] = view.getInt8(at + 192 + g);
  }
  return packQ6_K(q, d, sc);
}

/** The types whose values are indices into IQ4's 16 levels (ggml's kvalues_iq4nl): `repackLevels` keeps them. */
export const IQ4_TYPES = ['IQ4_NL', 'IQ4_XS'];

/**
 * The types kept as level groups with levels of their own (`repackLevels`), each the layout of
 * its own name: the 1- to 3-bit i-quants, whose values take at most 16 levels (their lattices'
 * values, signed), with a scale per 32 values or, for IQ2_XS, IQ2_S and IQ1_M, per 16; and
 * Q3_K, whose values are integers -4 .. 3 times a scale per 16 (6 bits a weight where its 6-bit
 * groups take 8, and its scales exact where those round them to f16).
 */
export const OWN_LEVEL_TYPES: readonly LevelDType[] = [
  'IQ3_XXS',
  'IQ3_S',
  'IQ2_XXS',
  'IQ1_S',
  'IQ2_XS',
  'IQ2_S',
  'IQ1_M',
  'Q3_K',
];

/** The level-group layout a type's blocks repack into: IQ4's, or a type's own. */
export function levelLayout(type: GgmlType): LevelDType | undefined {
  if (IQ4_TYPES.includes(type.name)) return 'IQ4';
  return OWN_LEVEL_TYPES.find((name) => name === type.name);
}

/**
 * ggml's blocks of a type with a level layout (`levelLayout`; `count` values) as 4-bit level
 * groups of 32 (iq4.ts), exactly: each value's index among the layout's levels, each group's
 * (or each 16's) scale as ggml forms it (IQ4_NL: d; IQ4_XS: d (sc - 32); Q3_K: d (sc - 32);
 * the lattice types as gguf-iquants.ts decodes them), in f32.
 */
export function repackLevels(type: GgmlType, bytes: Uint8Array, count: number, what: string): IQ4Matrix {
  const layout = levelLayout(type);
  if (!layout) throw new RangeError(`repackLevels: ${type.name} has no level layout`);
  const { q, scales } = decodeBlocks(type, bytes, count, what);
  const zero = SIGNED_ZEROS[type.name]; // q - zero is ggml's integer
  // Each level's index, at the level plus 128.
  const index = new Int16Array(256).fill(-1);
  LEVELS[layout].forEach((level, i) => {
    if (index[level + 128] < 0) index[level + 128] = i;
  });
  for (let i = 0; i < count; i++) {
    const level = index[q[i] - zero + 128];
    // Every value a block of the type can hold is one of its levels (iq4.ts lists them).
    if (level < 0) throw new RangeError(`repackLevels: ${what}: ${q[i] - zero} is none of ${layout}'s levels`);
    q[i] = level;
  }
  // Scales come one per 16 values; but for the types with a scale per 16, both 16s of a group
  // of 32 share theirs.
  if (SCALES_PER_16.includes(layout)) return packIQ4(q, scales);
  return packIQ4(
    q,
    scales.filter((_, g) => g % 2 === 0),
  );
}

/**
 * `scale` and `min` as f16 bit patterns at pair `at` of `pairs`. A scale or min past f16's
 * largest value (a zero point times a scale over 4095, say, which no trained model has) cannot
 * be kept; say so rather than compute with infinities.
 */
function f16Pair(pairs: Uint16Array, at: number, scale: number, min: number, type: GgmlType, what: string): void {
  pairs[2 * at] = f32ToF16(scale);
  pairs[2 * at + 1] = f32ToF16(min);
  const overflows = (half: number, value: number) => (half & 0x7c00) === 0x7c00 && Number.isFinite(value);
  if (overflows(pairs[2 * at], scale) || overflows(pairs[2 * at + 1], min)) {
    throw new GgufFormatError(
      `${what}: a ${type.name} block's scale (${scale}) or min (${min}) is beyond f16's range, ` +
        "which Tandem's 5- and 6-bit layouts keep them in",
    );
  }
}

/**
 * ggml's Q8_0 blocks (`count` values) as 8-bit groups of 32 with f16 scales (q8.ts, FORMAT 12),
 * exactly: each block's bytes, and its d as stored.
 */
export function repackQ8_0(bytes: Uint8Array, count: number): { weights: Uint32Array; scales: Uint16Array } {
  const { weights, scales } = repackQ8(GGML_TYPES[8], bytes, count);
  return { weights, scales: Uint16Array.from({ length: count / 32 }, (_, b) => f32ToF16(scales[2 * b])) };
}

/**
 * ggml blocks of one of Q8_TYPES (`count` values) as 8-bit groups of 16 with f32 scales (q8.ts,
 * FORMAT 7), exactly: each value's integer and scale as ggml's dequantization forms them.
 */
export function repackQ8(
  type: GgmlType,
  bytes: Uint8Array,
  count: number,
): { weights: Uint32Array; scales: Float32Array } {
  const { q, scales } = decodeBlocks(type, bytes, count, type.name);
  const zero = SIGNED_ZEROS[type.name];
  if (zero === undefined) throw new RangeError(`repackQ8: ${type.name} is not one of ${Q8_TYPES.join(', ')}`);
  const signed = new Int8Array(q.length);
  for (let i = 0; i < q.length; i++) signed[i] = q[i] - zero;
  return { weights: new Uint32Array(signed.buffer), scales };
}

/**
 * ggml blocks of any type `dequantize` reads as 8-bit groups of 16 with an f32 (scale, min)
 * pair each (q8.ts, FORMAT 8), exactly: q scale - min is ggml's value (of a signed type: up to
 * the sign of a zero, see `dequantize`).
 */
export function repackQ8A(
  type: GgmlType,
  bytes: Uint8Array,
  count: number,
): { weights: Uint32Array; scales: Float32Array } {
  const { q, scales, mins } = decodeBlocks(type, bytes, count, type.name);
  const pairs = new Float32Array(2 * scales.length);
  for (let g = 0; g < scales.length; g++) {
    pairs[2 * g] = scales[g];
    pairs[2 * g + 1] = mins[g];
  }
  return { weights: new Uint32Array(q.buffer), scales: pairs };
}
