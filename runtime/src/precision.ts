// A precision is one bit-width per quantized layer, given as a uniform bit, a per-layer
// list, or the name of one of the model's SubNets.
import type { Model } from '@bitswitch/format';

export type PrecisionSpec = number | readonly number[] | string;

export interface Precision {
  /** Bit of each quantized layer, graph order. */
  bits: number[];
  /** Index of each layer's bit in model.bits (selects activation scales and BatchNorm sets). */
  bitIndex: number[];
  /** 'w4a4', 'mixed:[8,4,…]' or the SubNet's name. */
  label: string;
  /** A SubNet's own BatchNorm statistics by layer (format 1.3): used when the SubNet is chosen by name. */
  bn?: Readonly<Record<string, Float32Array>>;
}

export function resolvePrecision(model: Model, layerCount: number, spec: PrecisionSpec): Precision {
  let bits: number[];
  let label: string;
  let bn: Precision['bn'];
  if (typeof spec === 'number') {
    if (!model.bits.includes(spec)) throw new RangeError(`precision: expected one of the model's bits [${model.bits}], got ${spec}`);
    bits = new Array(layerCount).fill(spec);
    label = `w${spec}a${spec}`;
  } else if (typeof spec === 'string') {
    const names = (model.subnets ?? []).map((s) => s.name);
    const sub = model.subnets?.find((s) => s.name === spec);
    if (!sub) throw new RangeError(`precision: expected a bit in [${model.bits}], a list of ${layerCount} bits, or a SubNet name in [${names.map((n) => `'${n}'`).join(', ')}], got '${spec}'`);
    bits = checkList(model, layerCount, sub.bits, `subnet '${spec}'.bits`);
    label = spec;
    bn = sub.bn;
  } else if (Array.isArray(spec)) {
    bits = checkList(model, layerCount, spec, 'precision');
    label = bits.every((b) => b === bits[0]) ? `w${bits[0]}a${bits[0]}` : `mixed:[${bits}]`;
  } else {
    throw new RangeError(`precision: expected a number, an array of numbers, or a SubNet name, got ${typeof spec}`);
  }
  return { bits, bitIndex: bits.map((b) => model.bits.indexOf(b)), label, ...(bn ? { bn } : {}) };
}

function checkList(model: Model, layerCount: number, list: readonly number[], field: string): number[] {
  if (list.length !== layerCount) throw new RangeError(`${field}: expected ${layerCount} bits (one per quantized layer), got ${list.length}`);
  list.forEach((b, i) => {
    if (!model.bits.includes(b)) throw new RangeError(`${field}[${i}]: expected one of the model's bits [${model.bits}], got ${b}`);
  });
  return [...list];
}
