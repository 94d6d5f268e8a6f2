// The browser demo that `bitswitch serve` serves: loads a model file (the served one, or one the
// user drops or picks), classifies sample images from the data package, switches precision with a
// slider or a SubNet, and shows accuracy, latency and the weight bytes in use. Problems (no model,
// a damaged file, a model for other images) are shown in words on the page.
// Query parameters: ?model=URL&images=URL (images: a .json description next to its .bin pixels).
import { FormatError, describeInput, readModel, type Model } from '@bitswitch/format';
import type { Kernels } from '@bitswitch/kernels';
import { argmax, createRuntime, type PrecisionInfo, type PrecisionSpec, type Runtime } from '@bitswitch/runtime';
import { loadTestImages, normalise, type TestImages } from './images.ts';

const $ = (id: string) => document.getElementById(id)!;
const params = new URLSearchParams(location.search);

export interface ClassifyResult {
  model: string;
  precision: string;
  bits: number[];
  predictions: number[];
  logits: number[];
  accuracy: number;
  latencyMs: number;
  throughput: number;
  activeBytes: number;
  /** Whether the runtime normalised raw pixels with the file's INPT (else the page used the data set's mean/std). */
  rawInput: boolean;
  /** Threads per GEMM (rt.info) and the page's view of the cores and isolation. */
  threads: number;
  /** The kernels' pool so far: threaded GEMM calls, their row blocks, the blocks the page's thread ran. */
  pool?: { calls: number; blocks: number; callerBlocks: number };
  hardwareConcurrency: number;
  crossOriginIsolated: boolean;
}

let rt: Runtime | undefined;
let data: TestImages | undefined;
let modelName = '';
/** What rt.run gets: the raw pixels when the file says how to normalise them, else floats normalised here. */
let input: Uint8Array | Float32Array = new Uint8Array(0);

function showError(text: string): void {
  $('error').textContent = text;
  $('error').hidden = false;
  $('status').textContent = `error: ${text}`;
}

function clearError(): void {
  $('error').hidden = true;
  $('error').textContent = '';
}

const className = (i: number) => rt?.model.input?.labels?.[i] ?? data?.classNames[i] ?? String(i);

function select(spec: PrecisionSpec): PrecisionInfo {
  const info = rt!.setPrecision(spec);
  $('precision').textContent = `${info.label}: ${info.bits.join(' ')}`;
  $('switch').textContent = `${info.switchMs.toFixed(2)} ms (${info.derived} layer tensors derived)`;
  const i = rt!.model.bits.findIndex((b) => info.bits.every((x) => x === b));
  if (i >= 0) ($('bits') as HTMLInputElement).value = String(i);
  $('bits-label').textContent = info.label;
  document.querySelectorAll<HTMLButtonElement>('#subnets button').forEach((b) => b.classList.toggle('active', b.dataset.subnet === spec));
  showMemory();
  return info;
}

function showMemory(): void {
  const m = rt!.memory();
  $('bytes').textContent = `${m.activeBytes.toLocaleString()} B packed (stored file weights ${m.storedBytes.toLocaleString()} B)`;
  $('cached').textContent = `${m.cachedBytes.toLocaleString()} B`;
}

function classify(): ClassifyResult {
  const r = rt!;
  const { count, perImage, labels } = data!;
  const t0 = performance.now();
  const one = Math.min(count, 8);
  for (let i = 0; i < one; i++) r.run(input.subarray(i * perImage, (i + 1) * perImage), 1);
  const latencyMs = (performance.now() - t0) / one;
  const logits: number[] = [];
  const t1 = performance.now();
  for (let start = 0; start < count; start += 32) {
    const b = Math.min(32, count - start);
    logits.push(...r.run(input.subarray(start * perImage, (start + b) * perImage), b));
  }
  const throughput = (count * 1000) / (performance.now() - t1);
  const predictions = Array.from(argmax(Float32Array.from(logits), count));
  const correct = predictions.filter((p, i) => p === labels[i]).length;
  const result: ClassifyResult = {
    model: modelName, precision: r.precision.label, bits: r.precision.bits, predictions, logits, accuracy: correct / count,
    latencyMs, throughput, activeBytes: r.memory().activeBytes, rawInput: input instanceof Uint8Array,
    threads: r.info.threads, pool: (r.backend as { kernels?: Kernels }).kernels?.poolStats, hardwareConcurrency: navigator.hardwareConcurrency, crossOriginIsolated: globalThis.crossOriginIsolated,
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
  const d = data!;
  const grid = $('grid');
  grid.textContent = '';
  const [H, W, C] = d.shape;
  for (let i = 0; i < Math.min(32, d.count); i++) {
    const cell = document.createElement('div');
    cell.className = `cell ${predictions[i] === d.labels[i] ? 'ok' : 'bad'}`;
    const canvas = document.createElement('canvas');
    canvas.width = W;
    canvas.height = H;
    const ctx = canvas.getContext('2d')!;
    const img = ctx.createImageData(W, H);
    for (let p = 0; p < H * W; p++) {
      const px = d.pixels.subarray((i * H * W + p) * C, (i * H * W + p + 1) * C);
      img.data.set(C >= 3 ? [px[0], px[1], px[2], 255] : [px[0], px[0], px[0], 255], p * 4);
    }
    ctx.putImageData(img, 0, 0);
    const caption = document.createElement('span');
    caption.textContent = className(predictions[i]);
    cell.title = `predicted ${className(predictions[i])}, label ${className(d.labels[i])}`;
    cell.append(canvas, caption);
    grid.append(cell);
  }
}

/** SubNets as one compact line each: name, bits per quantized layer (layer names on hover), average, accuracy. */
function listSubnets(m: Model, layers: string[]): void {
  const list = $('subnets');
  list.textContent = '';
  $('subnet-layers').textContent = layers.length ? `bits per quantized layer: ${layers.join(' · ')}` : '';
  for (const s of m.subnets ?? []) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.textContent = s.name;
    b.dataset.subnet = s.name;
    b.addEventListener('click', () => { select(s.name); classify(); });
    const bits = document.createElement('code');
    bits.textContent = s.bits.join(' ');
    bits.title = s.bits.map((x, i) => `${layers[i]}: ${x}`).join(', ');
    const avg = s.bits.reduce((a, x) => a + x, 0) / s.bits.length;
    const extra = document.createElement('span');
    extra.textContent = `avg ${avg.toFixed(2)} bits${s.accuracy === undefined ? '' : `, ${(100 * s.accuracy).toFixed(1)} % recorded`}`;
    li.append(b, bits, extra);
    list.append(li);
  }
  $('subnets-row').hidden = !(m.subnets && m.subnets.length);
}

/** Opens a model file: validates it, checks it fits the sample images, starts the runtime, classifies. */
async function openModel(bytes: Uint8Array, name: string): Promise<void> {
  clearError();
  $('status').textContent = `loading ${name}`;
  const d = data!;
  let m: Model;
  try {
    m = readModel(bytes);
  } catch (e) {
    if (e instanceof FormatError) {
      showError(`${name} is damaged or is not a bitswitch model file (${e.message}). Copy or export it again, or drop another .bsw file.`);
      return;
    }
    throw e;
  }
  const [H, W, C] = m.inputShape;
  const [h, w, c] = d.shape;
  if (H !== h || W !== w || C !== c) {
    showError(`${name} takes ${H}×${W}×${C} images, but the sample images are ${h}×${w}×${c} (${d.dataset}). Open a model trained on ${d.dataset}, or serve this one with images of its size.`);
    return;
  }
  rt?.dispose();
  rt = await createRuntime(m);
  modelName = name;
  const notes: string[] = [];
  if (m.input) {
    input = d.pixels; // the runtime normalises raw pixels as the file's INPT says
    notes.push(`input from the file: ${describeInput(m.input)}`);
    if (m.input.dataset && m.input.dataset !== d.dataset) notes.push(`note: trained on ${m.input.dataset}, the sample images are ${d.dataset}`);
  } else {
    input = normalise(d.pixels, d);
    notes.push(`this file does not record its input normalisation (format before 1.2): using ${d.dataset}'s mean [${d.mean}] and std [${d.std}]`);
  }
  $('model-info').textContent = `${name}: ${m.layers.length} layers, ${rt.quantizedLayerNames.length} quantized, bits [${m.bits}], input ${H}×${W}×${C}; ${d.count} ${d.dataset} test images`;
  $('input-info').textContent = notes.join('; ');
  const isolated = globalThis.crossOriginIsolated === true;
  $('backend').textContent = `${rt.backend.name}, ${rt.info.threads} thread${rt.info.threads === 1 ? '' : 's'}${isolated ? '' : ' (the page is not cross-origin isolated, so one thread: open it through bitswitch serve)'}${rt.info.note ? ` (${rt.info.note})` : ''}`;
  const slider = $('bits') as HTMLInputElement;
  slider.max = String(m.bits.length - 1);
  listSubnets(m, rt.quantizedLayerNames);
  $('controls').hidden = false;
  select(m.bits[0]);
  classify();
}

async function openFile(file: File): Promise<void> {
  if (!data) return;
  try {
    await openModel(new Uint8Array(await file.arrayBuffer()), file.name);
  } catch (e) {
    showError(`${file.name}: ${(e as Error).message}`);
  }
}

function wireInputs(): void {
  const slider = $('bits') as HTMLInputElement;
  slider.addEventListener('input', () => { if (rt) { select(rt.model.bits[Number(slider.value)]); classify(); } });
  $('classify').addEventListener('click', () => { if (rt) classify(); });
  ($('file') as HTMLInputElement).addEventListener('change', (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) void openFile(f);
  });
  document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    const f = e.dataTransfer?.files[0];
    if (f) void openFile(f);
  });
}

async function main(): Promise<void> {
  wireInputs();
  if (location.protocol === 'file:') {
    showError('This page must be served, not opened as a file: run `bitswitch serve` (or `pnpm serve`) and open the address it prints.');
    return;
  }
  const imagesUrl = params.get('images') ?? 'images.json';
  try {
    data = await loadTestImages(imagesUrl);
  } catch (e) {
    showError(`The sample images could not be loaded: ${(e as Error).message}. Start the page with bitswitch serve.`);
    return;
  }
  const modelUrl = params.get('model') ?? 'model.bsw';
  const res = await fetch(modelUrl);
  if (res.status === 404) {
    $('model-info').textContent = 'no model loaded';
    showError(`No model file at ${modelUrl}. Drop a .bsw file on this page or choose one above, or start the server with bitswitch serve FILE.`);
    return;
  }
  if (!res.ok) {
    showError(`${modelUrl}: the server answered ${res.status} ${res.statusText}.`);
    return;
  }
  // bitswitch serve names the file it serves as model.bsw
  await openModel(new Uint8Array(await res.arrayBuffer()), res.headers.get('x-model-name') ?? modelUrl.split('/').pop() ?? modelUrl);
}

main().catch((e) => {
  showError((e as Error).message);
  console.error(e);
});
