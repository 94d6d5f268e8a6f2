// Data of the kernel benchmark: shapes, targets, the ResNet-20 conv set, and the one-node ONNX model.

/** M×N×K of the issue: a square GEMM and two ResNet-style conv GEMMs (56×56×64 and 28×28×128 maps). */
export const SHAPES: [number, number, number][] = [[512, 512, 512], [3136, 64, 576], [784, 128, 1152]];

/** M×N×K of ResNet-20's three conv widths at batch 1 on a 28×28 input (28×28×16, 14×14×32, 7×7×64 maps, 3×3 kernels). */
export const RESNET20_LAYER_SHAPES: [number, number, number][] = [[784, 16, 144], [196, 32, 288], [49, 64, 576]];

/** Speed targets: our build at wbits = abits, as a ratio of a baseline's GOPS on every shape. */
export const TARGETS = [
  { build: 'simd', wbits: 8, baseline: 'tfjs-wasm-f32-matmul', ratio: 2.5 },
  { build: 'simd', wbits: 8, baseline: 'ort-web-matmulinteger-u8s8', ratio: 1.0 },
  { build: 'relaxed', wbits: 8, baseline: 'ort-web-matmulinteger-u8s8', ratio: 1.4 },
  { build: 'relaxed', wbits: 4, baseline: 'ort-web-matmulinteger-u8s8', ratio: 1.8 },
  { build: 'relaxed', wbits: 2, baseline: 'ort-web-matmulinteger-u8s8', ratio: 1.8 },
];

/** [N, K] of ResNet-20's quantized convs: 18 3×3 (16→16 ×6, 16→32, 32→32 ×5, 32→64, 64→64 ×5) and 2 1×1 shortcuts. */
export const RESNET20_CONVS: [number, number][] = [
  ...Array.from({ length: 6 }, (): [number, number] => [16, 9 * 16]),
  [32, 9 * 16], ...Array.from({ length: 5 }, (): [number, number] => [32, 9 * 32]),
  [64, 9 * 32], ...Array.from({ length: 5 }, (): [number, number] => [64, 9 * 64]),
  [32, 16], [64, 32],
];

interface OnnxNs {
  ModelProto: { create(p: unknown): unknown; encode(m: unknown): { finish(): Uint8Array } };
}

/** A one-node ONNX model Y[M,N] int32 = MatMulInteger(A[M,K] uint8, B[K,N] int8 initializer). */
export function matMulIntegerModel(onnx: OnnxNs, M: number, N: number, K: number, b: Int8Array): Uint8Array {
  const UINT8 = 2, INT8 = 3, INT32 = 6;
  const info = (name: string, elemType: number, dims: number[]) => ({
    name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7, producerName: 'bitswitch-bench', opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'matmulinteger',
      node: [{ opType: 'MatMulInteger', input: ['A', 'B'], output: ['Y'] }],
      initializer: [{ name: 'B', dataType: INT8, dims: [K, N], rawData: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) }],
      input: [info('A', UINT8, [M, K])],
      output: [info('Y', INT32, [M, N])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
