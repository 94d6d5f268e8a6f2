// Model definitions as graphs that map one-to-one onto the format's layers (format/src/model.ts).
// Quantized layers always read a ReLU output (activations are unsigned); the first conv and
// the last dense stay float32.
import type { Padding } from '@bitswitch/format';

interface NodeBase { name: string; inputs: string[] }
export interface ConvNode extends NodeBase {
  op: 'conv2d'; kernel: [number, number]; strides: [number, number]; padding: Padding;
  inChannels: number; outChannels: number; quantized: boolean; bias: boolean;
}
export interface DenseNode extends NodeBase { op: 'dense'; inFeatures: number; outFeatures: number; quantized: boolean; bias: boolean }
/** `follows`: the quantized layer whose bit selects this BN's parameter set; absent → one set. */
export interface BatchNormNode extends NodeBase { op: 'batchnorm'; channels: number; epsilon: number; follows?: string }
export interface AvgPoolNode extends NodeBase { op: 'avgpool'; pool: [number, number]; strides: [number, number]; padding: Padding }
export interface PlainNode extends NodeBase { op: 'relu' | 'add' | 'flatten' | 'globalavgpool' }
export type GraphNode = ConvNode | DenseNode | BatchNormNode | AvgPoolNode | PlainNode;

export interface ModelSpec {
  name: string;
  /** [H, W, C] */
  inputShape: [number, number, number];
  classes: number;
  nodes: GraphNode[];
}

export const MODEL_NAMES = ['small-cnn', 'mnist-cnn', 'resnet8', 'resnet20'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

const BN_EPS = 1e-5;

/** Builds a graph node by node; each helper returns the new node's name. */
class GraphBuilder {
  nodes: GraphNode[] = [];
  private add<T extends GraphNode>(n: T): string { this.nodes.push(n); return n.name; }
  conv(name: string, input: string, cin: number, cout: number, k: number, stride: number, quantized: boolean): string {
    return this.add<ConvNode>({ name, op: 'conv2d', inputs: [input], kernel: [k, k], strides: [stride, stride], padding: 'same', inChannels: cin, outChannels: cout, quantized, bias: false });
  }
  dense(name: string, input: string, fin: number, fout: number, quantized: boolean, bias: boolean): string {
    return this.add<DenseNode>({ name, op: 'dense', inputs: [input], inFeatures: fin, outFeatures: fout, quantized, bias });
  }
  bn(name: string, input: string, channels: number, follows?: string): string {
    return this.add<BatchNormNode>({ name, op: 'batchnorm', inputs: [input], channels, epsilon: BN_EPS, ...(follows ? { follows } : {}) });
  }
  plain(name: string, op: PlainNode['op'], ...inputs: string[]): string { return this.add<PlainNode>({ name, op, inputs }); }
  /** quantized conv → per-bit BN (→ ReLU) */
  qconvBn(prefix: string, input: string, cin: number, cout: number, k: number, stride: number, relu: boolean): string {
    const c = this.conv(`${prefix}_conv`, input, cin, cout, k, stride, true);
    const b = this.bn(`${prefix}_bn`, c, cout, c);
    return relu ? this.plain(`${prefix}_relu`, 'relu', b) : b;
  }
}

/**
 * CIFAR-style ResNet (He et al. 2016, §4.2): 3×3 conv 16 → 3 stages of n basic blocks with
 * 16/32/64 channels (stride 2 at the start of stages 2 and 3) → global average pool → dense.
 * n = 3 gives ResNet-20, n = 1 ResNet-8. Shortcuts that change shape are 1×1 convs with BN
 * (option B), since the format has no channel-padding op; they read the block input (a ReLU).
 */
export function resnet(blocksPerStage: number, inputShape: [number, number, number], classes = 10): ModelSpec {
  const g = new GraphBuilder();
  let x = g.plain('stem_relu', 'relu', g.bn('stem_bn', g.conv('stem_conv', 'input', inputShape[2], 16, 3, 1, false), 16));
  let cin = 16;
  for (let s = 0; s < 3; s++) {
    const cout = 16 * 2 ** s;
    for (let j = 0; j < blocksPerStage; j++) {
      const stride = s > 0 && j === 0 ? 2 : 1;
      const p = `s${s + 1}b${j + 1}`;
      const a = g.qconvBn(`${p}_a`, x, cin, cout, 3, stride, true);
      const b = g.qconvBn(`${p}_b`, a, cout, cout, 3, 1, false);
      const short = stride !== 1 || cin !== cout ? g.qconvBn(`${p}_proj`, x, cin, cout, 1, stride, false) : x;
      x = g.plain(`${p}_out`, 'relu', g.plain(`${p}_add`, 'add', b, short));
      cin = cout;
    }
  }
  g.dense('fc', g.plain('pool', 'globalavgpool', x), cin, classes, false, true);
  return { name: `resnet${6 * blocksPerStage + 2}`, inputShape, classes, nodes: g.nodes };
}

export interface SmallCnnOptions { channels?: [number, number, number]; hidden?: number }

/** Small CNN for fast tests: float conv → 2 quantized convs (stride 2) → GAP → quantized dense → float dense. */
export function smallCnn(inputShape: [number, number, number], classes = 10, opts: SmallCnnOptions = {}): ModelSpec {
  const [c1, c2, c3] = opts.channels ?? [16, 32, 64];
  const hidden = opts.hidden ?? 64;
  const g = new GraphBuilder();
  let x = g.plain('stem_relu', 'relu', g.bn('stem_bn', g.conv('stem_conv', 'input', inputShape[2], c1, 3, 1, false), c1));
  x = g.qconvBn('l1', x, c1, c2, 3, 2, true);
  x = g.qconvBn('l2', x, c2, c3, 3, 2, true);
  x = g.plain('pool', 'globalavgpool', x);
  const d = g.dense('fc1', x, c3, hidden, true, false);
  x = g.plain('fc1_relu', 'relu', g.bn('fc1_bn', d, hidden, d));
  g.dense('fc', x, hidden, classes, false, true);
  return { name: 'small-cnn', inputShape, classes, nodes: g.nodes };
}

/**
 * The demo network for 28×28×1 digits: float 3×3 conv 1→16 → quantized 3×3 convs 16→32 (stride
 * 2, 14×14) and 32→64 (stride 2, 7×7) → flatten (3136) → quantized dense 3136→64 → float dense
 * 64→10, BN + ReLU after every hidden layer. Flattening the 7×7 map keeps where strokes are,
 * which global pooling loses. At 28×28: 2.12 M MACs per image and 224,538 weights and biases
 * (quantized layers: 2.01 M MACs, 223,744 weights), plus BatchNorm parameters.
 */
export function mnistCnn(inputShape: [number, number, number], classes = 10): ModelSpec {
  const g = new GraphBuilder();
  const [H, W, C] = inputShape;
  let x = g.plain('stem_relu', 'relu', g.bn('stem_bn', g.conv('stem_conv', 'input', C, 16, 3, 1, false), 16));
  x = g.qconvBn('l1', x, 16, 32, 3, 2, true);
  x = g.qconvBn('l2', x, 32, 64, 3, 2, true);
  x = g.plain('flatten', 'flatten', x);
  const flat = Math.ceil(Math.ceil(H / 2) / 2) * Math.ceil(Math.ceil(W / 2) / 2) * 64;
  const d = g.dense('fc1', x, flat, 64, true, false);
  x = g.plain('fc1_relu', 'relu', g.bn('fc1_bn', d, 64, d));
  g.dense('fc', x, 64, classes, false, true);
  return { name: 'mnist-cnn', inputShape, classes, nodes: g.nodes };
}

export function buildModel(name: string, inputShape: [number, number, number], classes = 10, opts: SmallCnnOptions = {}): ModelSpec {
  switch (name) {
    case 'small-cnn': return smallCnn(inputShape, classes, opts);
    case 'mnist-cnn': return mnistCnn(inputShape, classes);
    case 'resnet8': return resnet(1, inputShape, classes);
    case 'resnet20': return resnet(3, inputShape, classes);
    default: throw new RangeError(`model: expected one of ${MODEL_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  }
}

/** Quantized conv/dense nodes in graph order (the order of bitsPerLayer and of the format's SubNets). */
export function quantizedNodes(spec: ModelSpec): (ConvNode | DenseNode)[] {
  return spec.nodes.filter((n): n is ConvNode | DenseNode => (n.op === 'conv2d' || n.op === 'dense') && n.quantized);
}
