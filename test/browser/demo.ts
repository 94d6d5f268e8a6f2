// The browser demo: loads a model file and test images, switches precision with a slider or a
// SubNet preset, classifies, and shows accuracy, latency and the weight bytes in use.
// Query parameters: ?model=URL&images=URL (images: a .json description next to its .bin pixels).
import type { Kernels } from '@bitswitch/kernels';
import { argmax, createRuntime, type PrecisionInfo, type PrecisionSpec, type Runtime } from '@bitswitch/runtime';
import { loadTestImages, type TestImages } from './images.ts';

const $ = (id: string) => document.getElementById(id)!;
const params = new URLSearchParams(location.search);

export interface ClassifyResult {
  precision: string;
  bits: number[];
  predictions: number[];
  logits: number[];
  accuracy: number;
  latencyMs: number;
  throughput: number;
  activeBytes: number;
  /** Threads per GEMM (rt.info) and the page's view of the cores and isolation. */
  threads: number;
  /** The kernels' pool so far: threaded GEMM calls, their row blocks, the blocks the page's thread ran. */
  pool?: { calls: number; blocks: number; callerBlocks: number };
  hardwareConcurrency: number;
  crossOriginIsolated: boolean;
}

let rt: Runtime;
let data: TestImages;
let lastSwitch: PrecisionInfo | undefined;

function select(spec: PrecisionSpec): PrecisionInfo {
  lastSwitch = rt.setPrecision(spec);
  $('precision').textContent = lastSwitch.label;
  $('switch').textContent = `${lastSwitch.switchMs.toFixed(2)} ms (${lastSwitch.derived} layer tensors derived)`;
  const i = rt.model.bits.findIndex((b) => lastSwitch!.bits.every((x) => x === b));
  if (i >= 0) (($('bits') as HTMLInputElement).value = String(i));
  $('bits-label').textContent = lastSwitch.label;
  document.querySelectorAll<HTMLButtonElement>('#presets button').forEach((b) => b.classList.toggle('active', b.dataset.subnet === spec));
  showMemory();
  return lastSwitch;
}

function showMemory(): void {
  const m = rt.memory();
  $('bytes').textContent = `${m.activeBytes.toLocaleString()} B packed (stored file weights ${m.storedBytes.toLocaleString()} B)`;
  $('cached').textContent = `${m.cachedBytes.toLocaleString()} B`;
}

function classify(): ClassifyResult {
  const { images, count, perImage, labels } = data;
  const t0 = performance.now();
  const one = Math.min(count, 8);
  for (let i = 0; i < one; i++) rt.run(images.subarray(i * perImage, (i + 1) * perImage), 1);
  const latencyMs = (performance.now() - t0) / one;
  const logits: number[] = [];
  const t1 = performance.now();
  for (let start = 0; start < count; start += 32) {
    const b = Math.min(32, count - start);
    logits.push(...rt.run(images.subarray(start * perImage, (start + b) * perImage), b));
  }
  const throughput = (count * 1000) / (performance.now() - t1);
  const predictions = Array.from(argmax(Float32Array.from(logits), count));
  const correct = predictions.filter((p, i) => p === labels[i]).length;
  const result: ClassifyResult = {
    precision: rt.precision.label, bits: rt.precision.bits, predictions, logits, accuracy: correct / count,
    latencyMs, throughput, activeBytes: rt.memory().activeBytes,
    threads: rt.info.threads, pool: (rt.backend as { kernels?: Kernels }).kernels?.poolStats, hardwareConcurrency: navigator.hardwareConcurrency, crossOriginIsolated: globalThis.crossOriginIsolated,
  };
  $('accuracy').textContent = `${(100 * result.accuracy).toFixed(1)} % (${correct} / ${count})`;
  $('latency').textContent = `${latencyMs.toFixed(2)} ms / image`;
  $('throughput').textContent = `${throughput.toFixed(0)} images / s`;
  showMemory();
  drawGrid(predictions);
  $('status').textContent = `done: ${result.precision}`;
  (window as unknown as { demoResult: ClassifyResult }).demoResult = result;
  return result;
}

function drawGrid(predictions: number[]): void {
  const grid = $('grid');
  grid.textContent = '';
  const [H, W, C] = data.shape;
  for (let i = 0; i < Math.min(32, data.count); i++) {
    const cell = document.createElement('div');
    cell.className = `cell ${predictions[i] === data.labels[i] ? 'ok' : 'bad'}`;
    const canvas = document.createElement('canvas');
    canvas.width = W;
    canvas.height = H;
    const ctx = canvas.getContext('2d')!;
    const img = ctx.createImageData(W, H);
    for (let p = 0; p < H * W; p++) {
      const v = data.pixels[(i * H * W + p) * C];
      img.data.set([v, v, v, 255], p * 4);
    }
    ctx.putImageData(img, 0, 0);
    cell.append(canvas, document.createTextNode(`${predictions[i]} / ${data.labels[i]}`));
    grid.append(cell);
  }
}

async function main(): Promise<void> {
  const modelUrl = params.get('model') ?? 'model.bsw';
  [rt, data] = await Promise.all([createRuntime(modelUrl), loadTestImages(params.get('images') ?? 'images.json')]);
  const m = rt.model;
  $('model-info').textContent = `${modelUrl}: ${m.layers.length} layers, ${rt.quantizedLayerNames.length} quantized, bits [${m.bits}], input [${m.inputShape}]; ${data.count} test images`;
  $('backend').textContent = `${rt.backend.name}, ${rt.info.threads} thread${rt.info.threads === 1 ? '' : 's'}${rt.info.note ? ` (${rt.info.note})` : ''}`;
  const slider = $('bits') as HTMLInputElement;
  slider.max = String(m.bits.length - 1);
  slider.addEventListener('input', () => { select(m.bits[Number(slider.value)]); classify(); });
  for (const s of m.subnets ?? []) {
    const b = document.createElement('button');
    b.textContent = `${s.name} (avg ${(s.bits.reduce((a, x) => a + x, 0) / s.bits.length).toFixed(2)} bits)`;
    b.dataset.subnet = s.name;
    b.addEventListener('click', () => { select(s.name); classify(); });
    $('presets').append(b);
  }
  $('classify').addEventListener('click', () => classify());
  select(m.bits[0]);
  classify();
}

main().catch((e) => {
  $('status').textContent = `error: ${(e as Error).message}`;
  console.error(e);
});
