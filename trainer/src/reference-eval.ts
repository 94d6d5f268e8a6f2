// Plain-TypeScript reference forward pass over a format Model with the format's reference math
// (Double Rounding eq. 2–3 from the stored W̃_h, activation quantization eq. 4–5). One image
// at a time, float64 accumulation, float32 between layers. Slow but independent of tfjs:
// it checks that an exported file computes what the trainer evaluated.
import {
  doubleRoundAll, dequantizeWeights, outputSize, quantizeActivation,
  type BatchNormLayer, type Conv2DLayer, type DenseLayer, type Model, type Padding,
} from '@bitswitch/format';

interface Act { shape: number[]; data: Float32Array }

/** Bit of each quantized layer: one for all, or one per quantized layer in graph order. */
export type BitAssignment = number | number[];

/** TensorFlow's 'same' padding before the first element: ⌊total/2⌋. */
function padBefore(size: number, k: number, s: number, padding: Padding): number {
  if (padding === 'valid') return 0;
  const out = outputSize(size, k, s, padding);
  return Math.floor(Math.max((out - 1) * s + k - size, 0) / 2);
}

export class ReferenceModel {
  private bitOf = new Map<string, number>();
  private weightCache = new Map<string, Float32Array>();

  constructor(readonly model: Model, bits: BitAssignment) {
    const q = model.layers.filter((l): l is Conv2DLayer | DenseLayer => (l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int');
    if (Array.isArray(bits) && bits.length !== q.length) throw new RangeError(`bits: expected ${q.length} entries (one per quantized layer), got ${bits.length}`);
    q.forEach((l, i) => {
      const b = Array.isArray(bits) ? bits[i] : bits;
      if (!model.bits.includes(b)) throw new RangeError(`bits: expected one of [${model.bits}] for ${l.name}, got ${b}`);
      this.bitOf.set(l.name, b);
    });
  }

  /** Dequantized weights of a layer at its bit (eq. 2–3), transposed to [K][N] for the inner loop. */
  private weightsKN(l: Conv2DLayer | DenseLayer): Float32Array {
    let w = this.weightCache.get(l.name);
    if (w) return w;
    const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
    let rows: Float32Array;
    if (l.weights.kind === 'int') {
      const b = this.bitOf.get(l.name)!;
      const h = l.weights.bits;
      rows = dequantizeWeights(doubleRoundAll(l.weights.values, h, b), l.weights.scale, h, b, n);
    } else rows = l.weights.values;
    const k = rows.length / n;
    w = new Float32Array(rows.length);
    for (let o = 0; o < n; o++) for (let i = 0; i < k; i++) w[i * n + o] = rows[o * k + i];
    this.weightCache.set(l.name, w);
    return w;
  }

  /** eq. 4–5 on a quantized layer's input. */
  private quantizeInput(l: Conv2DLayer | DenseLayer, x: Act): Act {
    if (l.weights.kind !== 'int') return x;
    const b = this.bitOf.get(l.name)!;
    const s = l.weights.actScales[this.model.bits.indexOf(b)];
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = quantizeActivation(x.data[i], s, b) * s;
    return { shape: x.shape, data: out };
  }

  private conv(l: Conv2DLayer, x: Act): Act {
    const [H, W, C] = x.shape;
    const [kh, kw] = l.kernel;
    const [sh, sw] = l.strides;
    const N = l.outChannels;
    const OH = outputSize(H, kh, sh, l.padding);
    const OW = outputSize(W, kw, sw, l.padding);
    const pt = padBefore(H, kh, sh, l.padding);
    const pl = padBefore(W, kw, sw, l.padding);
    const w = this.weightsKN(l);
    const out = new Float32Array(OH * OW * N);
    const acc = new Float64Array(N);
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        acc.fill(0);
        if (l.bias) for (let o = 0; o < N; o++) acc[o] = l.bias[o];
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky - pt;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw + kx - pl;
            if (ix < 0 || ix >= W) continue;
            for (let c = 0; c < C; c++) {
              const v = x.data[(iy * W + ix) * C + c];
              if (v === 0) continue;
              const row = ((ky * kw + kx) * C + c) * N;
              for (let o = 0; o < N; o++) acc[o] += v * w[row + o];
            }
          }
        }
        out.set(acc, (oy * OW + ox) * N);
      }
    }
    return { shape: [OH, OW, N], data: out };
  }

  private dense(l: DenseLayer, x: Act): Act {
    const N = l.outFeatures;
    const w = this.weightsKN(l);
    const acc = new Float64Array(N);
    if (l.bias) for (let o = 0; o < N; o++) acc[o] = l.bias[o];
    for (let i = 0; i < l.inFeatures; i++) {
      const v = x.data[i];
      if (v === 0) continue;
      for (let o = 0; o < N; o++) acc[o] += v * w[i * N + o];
    }
    return { shape: [N], data: Float32Array.from(acc) };
  }

  /** Index of the BN parameter set this layer uses under the current bits. */
  bnSet(l: BatchNormLayer): number {
    const idx = (layer: string) => this.model.bits.indexOf(this.bitOf.get(layer)!);
    if (l.select.kind === 'single') return 0;
    if (l.select.kind === 'per-bit') return idx(l.select.layer);
    return idx(l.select.prev) * this.model.bits.length + idx(l.select.layer);
  }

  private batchNorm(l: BatchNormLayer, x: Act): Act {
    const C = l.channels;
    const base = this.bnSet(l) * 4 * C;
    const p = l.params;
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < out.length; i++) {
      const c = i % C;
      out[i] = (p[base + c] * (x.data[i] - p[base + 2 * C + c])) / Math.sqrt(p[base + 3 * C + c] + l.epsilon) + p[base + C + c];
    }
    return { shape: x.shape, data: out };
  }

  /** Logits of one image (NHWC without batch). */
  forward(image: Float32Array): Float32Array {
    const acts = new Map<string, Act>([['input', { shape: this.model.inputShape, data: image }]]);
    let last!: Act;
    for (const l of this.model.layers) {
      const x = acts.get(l.inputs[0])!;
      switch (l.op) {
        case 'conv2d': last = this.conv(l, this.quantizeInput(l, x)); break;
        case 'dense': last = this.dense(l, this.quantizeInput(l, x)); break;
        case 'batchnorm': last = this.batchNorm(l, x); break;
        case 'relu': last = { shape: x.shape, data: x.data.map((v) => (v > 0 ? v : 0)) }; break;
        case 'add': { const y = acts.get(l.inputs[1])!; last = { shape: x.shape, data: x.data.map((v, i) => v + y.data[i]) }; break; }
        case 'flatten': last = { shape: [x.data.length], data: x.data }; break;
        case 'globalavgpool': {
          const [H, W, C] = x.shape;
          const sum = new Float64Array(C);
          for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) sum[c] += x.data[i * C + c];
          last = { shape: [C], data: Float32Array.from(sum, (v) => v / (H * W)) };
          break;
        }
        case 'avgpool': last = avgPool(x, l.pool, l.strides, l.padding); break;
      }
      acts.set(l.name, last);
    }
    return last.data;
  }
}

/** Average pool; 'same' averages over the valid elements only (SPEC). */
function avgPool(x: Act, pool: [number, number], strides: [number, number], padding: Padding): Act {
  const [H, W, C] = x.shape;
  const OH = outputSize(H, pool[0], strides[0], padding);
  const OW = outputSize(W, pool[1], strides[1], padding);
  const pt = padBefore(H, pool[0], strides[0], padding);
  const pl = padBefore(W, pool[1], strides[1], padding);
  const out = new Float32Array(OH * OW * C);
  for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let c = 0; c < C; c++) {
    let s = 0, n = 0;
    for (let ky = 0; ky < pool[0]; ky++) for (let kx = 0; kx < pool[1]; kx++) {
      const iy = oy * strides[0] + ky - pt, ix = ox * strides[1] + kx - pl;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      s += x.data[(iy * W + ix) * C + c]; n++;
    }
    out[(oy * OW + ox) * C + c] = s / n;
  }
  return { shape: [OH, OW, C], data: out };
}

/** argmax of each image's logits. images: NHWC floats, count·H·W·C. */
export function referencePredict(model: Model, bits: BitAssignment, images: Float32Array, count: number): Int32Array {
  const ref = new ReferenceModel(model, bits);
  const px = images.length / count;
  const out = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const logits = ref.forward(images.subarray(n * px, (n + 1) * px));
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    out[n] = best;
  }
  return out;
}
