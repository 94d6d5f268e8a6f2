// The workspace plan: which slot of the backend's workspace holds each tensor. Slots are reused once
// a tensor's last reader has run; flatten aliases its input.
import type { Step } from './compile.ts';
import { elementCount, type GraphInfo } from './graph.ts';
import { matrixShape } from './ops/conv.ts';

/** A tensor in the workspace: its slot, values per image, element type (float32 or uint8 codes). */
export interface Tensor { slot: number; perImage: number; f32: boolean }

/** Where every tensor lives: slots are reused once a tensor's last reader has run. */
export interface WorkspacePlan {
  tensors: Map<string, Tensor>;
  /** Bytes per image of each slot; then the codes, patch and float-patch scratch slots. */
  slotBytes: number[];
  codes: number;
  patches: number;
  floatPatches: number;
  /** Output of a layer timed alone (layerAtBit). */
  single: number;
  /**
   * Slot of the codes a step's epilogue writes for the next step (codesFor), by producer step index.
   * Two slots taken in turn, so a step never writes the slot its own input codes are in.
   */
  nextCodes: Map<number, number>;
}

/** Slot assignment: each tensor takes a free slot (best fit) and frees it after its last reader; flatten aliases its input. */
export function planWorkspace(steps: Step[], graph: GraphInfo, last: string): WorkspacePlan {
  const root = new Map<string, string>([['input', 'input']]);
  for (const s of steps) root.set(s.output, s.kind === 'flatten' ? root.get(s.input)! : s.output);
  const reads = (s: Step): string[] => (s.kind === 'add' ? s.inputs : s.kind === 'matmul' && s.residual !== undefined ? [s.input, s.residual] : [s.input]);
  const lastUse = new Map<string, number>();
  steps.forEach((s, i) => { for (const name of reads(s)) lastUse.set(root.get(name)!, i); });
  lastUse.set(root.get(last)!, Infinity);
  const slots: { bytes: number; busyUntil: number }[] = [];
  const tensors = new Map<string, Tensor>();
  const place = (name: string, f32: boolean, at: number) => {
    const perImage = elementCount(graph.shapes.get(name)!);
    const bytes = perImage * (f32 ? 4 : 1);
    const free = slots.map((x, id) => ({ ...x, id })).filter((x) => x.busyUntil < at);
    const fit = free.filter((x) => x.bytes >= bytes).sort((a, b) => a.bytes - b.bytes)[0] ?? free.sort((a, b) => b.bytes - a.bytes)[0];
    const id = fit ? fit.id : slots.push({ bytes: 0, busyUntil: 0 }) - 1;
    slots[id] = { bytes: Math.max(slots[id].bytes, bytes), busyUntil: lastUse.get(name) ?? at };
    tensors.set(name, { slot: id, perImage, f32 });
  };
  place('input', true, -1);
  let codes = 0, patches = 0, floatPatches = 0;
  steps.forEach((s, i) => {
    if (s.kind === 'flatten') { tensors.set(s.output, tensors.get(root.get(s.input)!)!); return; }
    if (s.kind === 'matmul') {
      const inF32 = tensors.get(s.input)!.f32;
      const [, k] = matrixShape(s.layer);
      const rows = elementCount(s.outShape) / (s.layer.op === 'conv2d' ? s.layer.outChannels : s.layer.outFeatures);
      if (s.q >= 0 && inF32) codes = Math.max(codes, elementCount(s.inShape));
      if (s.q >= 0) patches = Math.max(patches, rows * k);
      else floatPatches = Math.max(floatPatches, rows * k * 4);
      place(s.output, s.requantFor < 0, i);
    } else {
      place(s.output, true, i);
    }
  });
  const slotBytes = slots.map((x) => x.bytes);
  const base = slotBytes.length;
  slotBytes.push(codes, patches, floatPatches, 0, 0, 0);
  const nextCodes = new Map<number, number>();
  steps.forEach((s, i) => {
    if (s.kind !== 'matmul' || s.codesFor < 0) return;
    const slot = base + 4 + (nextCodes.size % 2);
    nextCodes.set(i, slot);
    slotBytes[slot] = Math.max(slotBytes[slot], elementCount(graph.shapes.get(s.output)!));
  });
  return { tensors, slotBytes, codes: base, patches: base + 1, floatPatches: base + 2, single: base + 3, nextCodes };
}
