// The mixed-precision SuperNet (HASB, Algorithm A.3): the multi-precision Network with
// Transitional BatchNorm (TBN, from Bit-Mixer): a BN that follows quantized layer L keeps one
// parameter set per (bit of the previous quantized layer P, bit of L), because the statistics
// of L's output depend on both precisions once layers switch independently.
import { Rng } from '../math/rng.ts';
import { Network, type BitChoice, type QuantConfig } from './network.ts';
import type { BatchNormNode, GraphNode, ModelSpec } from './models.ts';

/**
 * P for the BN after layer `layer`: the nearest quantized conv/dense upstream of `layer` along
 * first inputs (the main branch of an add). undefined when that path reaches the input or a
 * float layer first (the first quantized layer after the float stem): that BN stays per-bit.
 */
export function previousQuantizedLayer(spec: ModelSpec, layer: string): string | undefined {
  const byName = new Map<string, GraphNode>(spec.nodes.map((n) => [n.name, n]));
  const start = byName.get(layer);
  if (!start) throw new RangeError(`layer: expected a node of ${spec.name}, got ${JSON.stringify(layer)}`);
  let name = start.inputs[0];
  for (;;) {
    const node = byName.get(name);
    if (!node) return undefined; // 'input'
    if (node.op === 'conv2d' || node.op === 'dense') return node.quantized ? node.name : undefined;
    name = node.inputs[0];
  }
}

/** TBN set key of the pair (bit of P, bit of L); sets are ordered prevIndex · |B| + bitIndex (SPEC §3.2). */
export const pairKey = (prevBit: number, bit: number) => `b${prevBit}-b${bit}`;

/** The multi-precision Network with TBN on every BN whose layer has a quantized predecessor. */
export class SuperNetwork extends Network {
  // Computed on demand: bnKeys runs inside Network's constructor, before subclass fields exist.
  private prevCache?: Map<string, string | undefined>;

  constructor(spec: ModelSpec, quant: QuantConfig, rng: Rng) {
    if (quant.quantizer !== 'double-rounding' && quant.quantizer !== 'floor') {
      throw new RangeError(`quantizer: expected double-rounding or floor (one stored W̃_h per layer), got ${quant.quantizer}`);
    }
    super(spec, quant, rng);
  }

  /** P of the BN `node` (see previousQuantizedLayer), undefined for per-bit and single BNs. */
  prevOf(node: BatchNormNode): string | undefined {
    if (!node.follows) return undefined;
    if (!this.prevCache) this.prevCache = new Map();
    if (!this.prevCache.has(node.name)) this.prevCache.set(node.name, previousQuantizedLayer(this.spec, node.follows));
    return this.prevCache.get(node.name);
  }

  /** 'single'; per bit 'b8', …; TBN: |B|² keys 'b8-b8', 'b8-b6', … (prev-major). No float set. */
  override bnKeys(node: BatchNormNode): string[] {
    if (!node.follows) return ['single'];
    const bits = this.quant.bits;
    if (!previousQuantizedLayer(this.spec, node.follows)) return bits.map((b) => `b${b}`);
    return bits.flatMap((p) => bits.map((b) => pairKey(p, b)));
  }

  /** Float forward (bits = null) uses the highest bit's set: the SuperNet keeps no float BN. */
  override bnKey(node: BatchNormNode, bits: BitChoice): string {
    if (!node.follows) return 'single';
    const bitOrTop = (layer: string) => this.bitOf(layer, bits) ?? this.h;
    const b = bitOrTop(node.follows);
    const prev = this.prevOf(node);
    return prev ? pairKey(bitOrTop(prev), b) : `b${b}`;
  }

  /**
   * The SuperNet initialised from a multi-precision network: every variable is copied, and each
   * TBN set (p, b) starts from the per-bit set b of the layer the BN follows.
   */
  static fromMulti(net: Network): SuperNetwork {
    if (net instanceof SuperNetwork) throw new RangeError('net: expected a multi-precision Network, got a SuperNetwork');
    const sup = new SuperNetwork(net.spec, net.quant, new Rng(0));
    for (const [name, v] of sup.vars) {
      const src = net.vars.get(sourceName(name));
      if (!src) throw new RangeError(`multi-precision model: missing variable ${sourceName(name)} (for ${name})`);
      if (src.shape.join() !== v.shape.join()) throw new RangeError(`multi-precision model: ${sourceName(name)} has shape [${src.shape}], expected [${v.shape}]`);
      v.assign(src);
    }
    return sup;
  }
}

/** 'l1_bn/gamma@b8-b4' → 'l1_bn/gamma@b4' (a TBN set's source in the multi-precision model). */
function sourceName(name: string): string {
  return name.replace(/@b\d+-(b\d+)$/, '@$1');
}
