// `bitswitch supernet`: option handling and a tiny end-to-end run (MNIST subset) from a 'multi'
// model file to a 'mixed' one with TBN, the sensitivity section carried over.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { layerCosts, readModel, writeModel, type BatchNormLayer } from '@bitswitch/format';
import { register, runSupernet, supernetRecipeFromOptions } from '../src/commands/supernet.ts';
import { InterruptedError, Network, Rng, networkToModel, smallCnn } from '@bitswitch/trainer';
import type { CommandLike } from '../src/options.ts';

await tf.setBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'hasb-cli-'));

test('flags override the recipe file; bad flags name the flag and the expected value', async () => {
  const recipe = join(dir, 'r.json');
  writeFileSync(recipe, JSON.stringify({ sampling: 'uniform', sigma: 0.25, epochs: 3, batchSize: 32 }));
  const r = supernetRecipeFromOptions({ recipe, data: 'mnist', sigma: '0.75', batch: '16' });
  assert.equal([r.data, r.sampling, r.sigma, r.epochs, r.batchSize], ['mnist', 'uniform', 0.75, 3, 16]);
  assert.throws(() => supernetRecipeFromOptions({ sampling: 'bitmixer' }), /--sampling: expected one of hasb, uniform, got "bitmixer"/);
  assert.throws(() => supernetRecipeFromOptions({ sigma: 'half' }), /--sigma: expected a number, got "half"/);
  assert.throws(() => supernetRecipeFromOptions({ data: 'cifar10' }), /--data: expected one of mnist, fashion-mnist/);
  assert.throws(() => supernetRecipeFromOptions({ epochs: '1.5' }), /epochs: expected an integer/);
  writeFileSync(recipe, '{ nope');
  assert.throws(() => supernetRecipeFromOptions({ recipe }), /--recipe .*r\.json: expected a JSON recipe/);
});

test('register adds `supernet` with the issue\'s flags', () => {
  const seen: { name?: string; flags: string[] } = { flags: [] };
  const cmd: CommandLike = {
    command(name) { seen.name = name; return cmd; },
    description() { return cmd; },
    argument() { return cmd; },
    option(flags) { seen.flags.push(flags.split(' ')[0]); return cmd; },
    requiredOption(flags) { seen.flags.push(flags.split(' ')[0]); return cmd; },
    action() { return cmd; },
  };
  register(cmd);
  assert.is(seen.name, 'supernet');
  for (const f of ['--data', '--sampling', '--sigma', '--epochs', '--out']) assert.ok(seen.flags.includes(f), f);
});

/** A 'multi' small CNN for MNIST with calibrated-looking scales and a sensitivity section. */
async function multiFile(withSensitivity: boolean): Promise<string> {
  const net = new Network(smallCnn([28, 28, 1], 10, { channels: [4, 4, 4], hidden: 6 }), { bits: [8, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(3));
  net.copyFloatBnToBits();
  for (const [n, v] of net.vars) if (n.includes('scale')) v.assign(tf.fill(v.shape, 0.05));
  const model = await networkToModel(net);
  if (withSensitivity) {
    const costs = layerCosts(model).filter((c) => net.quantized.some((q) => q.name === c.layer));
    model.sensitivity = costs.map((c, i) => ({ layer: c.layer, hessianTrace: [50, 1, 2][i], params: c.params, macs: c.macs }));
  }
  const path = join(dir, `multi-${withSensitivity}.bsw`);
  writeFileSync(path, writeModel(model));
  net.dispose();
  return path;
}

test('runSupernet: multi .bsw → mixed .bsw with TBN and the sensitivity section', async () => {
  const src = await multiFile(true);
  const out = join(dir, 'hasb.bsw');
  const lines: string[] = [];
  const res = await runSupernet(src, { data: 'mnist', sampling: 'hasb', sigma: '0.5', epochs: '1', trainLimit: '40', testLimit: '20', batch: '20', out, backend: 'cpu', progress: false }, (l) => lines.push(l));
  assert.is(res.history.length, 1);
  assert.ok(lines.some((l) => l.startsWith('sensitive layers (t_l ≥ mean): l1_conv')), lines.join('\n'));
  // pnpm reproduce records backend and workers from this line
  const workers = lines.map((l) => /^backend cpu; (\d+) workers?; 3 quantized layers/.exec(l)?.[1]).find(Boolean);
  assert.ok(workers !== undefined && Number(workers) >= 1 && Number(workers) <= cpus().length, lines.join('\n'));
  const model = readModel(readFileSync(out));
  assert.is(model.mode, 'mixed');
  assert.equal(model.sensitivity, readModel(readFileSync(src)).sensitivity);
  const l2 = model.layers.find((l) => l.name === 'l2_bn') as BatchNormLayer;
  assert.equal(l2.select, { kind: 'per-pair', prev: 'l1_conv', layer: 'l2_conv' });
  assert.is(l2.params.length, 9 * 4 * 4);
  const meta = model.metadata as { supernet: { sampling: string; sigma: number }; accuracy: Record<string, number> };
  assert.equal([meta.supernet.sampling, meta.supernet.sigma], ['hasb', 0.5]);
  assert.equal(Object.keys(meta.accuracy), ['w8a8', 'w4a4', 'w2a2']);
});

test('runSupernet: an unfinished run\'s checkpoint is refused without --resume, continued with it, and removed when the run finishes', async () => {
  const src = await multiFile(true);
  const out = join(dir, 'resumed.bsw');
  const checkpoint = `${out}.checkpoint.json`;
  const opts = { data: 'mnist', sampling: 'hasb', sigma: '0.5', epochs: '2', trainLimit: '40', testLimit: '20', batch: '20', out, backend: 'cpu', progress: false };
  // a checkpoint after the first epoch, as a stopped run leaves it
  await runSupernet(src, { ...opts, epochs: '2' }, () => {});
  assert.not.ok(existsSync(checkpoint), 'a finished run leaves no checkpoint');
  const whole = readModel(readFileSync(out));
  writeFileSync(checkpoint, '{}');
  await runSupernet(src, opts, () => {}).then(() => assert.unreachable('ran over a checkpoint'), (e: Error) => assert.match(e.message, /--checkpoint: .*resumed\.bsw\.checkpoint\.json holds an unfinished SuperNet run; pass --resume/));
  await runSupernet(src, { ...opts, resume: true }, () => {}).then(() => assert.unreachable('resumed a foreign file'), (e: Error) => assert.match(e.message, /expected a SuperNet checkpoint/));
  rmSync(checkpoint);
  // resume with no checkpoint starts the run
  const lines: string[] = [];
  await runSupernet(src, { ...opts, resume: true }, (l) => lines.push(l));
  assert.not.ok(lines.some((l) => l.startsWith('resuming')));
  assert.equal(readModel(readFileSync(out)).layers.length, whole.layers.length);
});

test('runSupernet: Ctrl-C stops after the step in progress with the position in the checkpoint; --resume finishes it', async () => {
  const src = await multiFile(true);
  const out = join(dir, 'interrupted.bsw');
  const checkpoint = `${out}.checkpoint.json`;
  const opts = { data: 'mnist', sampling: 'hasb', sigma: '0.5', epochs: '1', trainLimit: '40', testLimit: '20', batch: '20', out, backend: 'cpu', progress: false };
  const before = process.listenerCount('SIGINT');
  // the signal arrives while the run is being set up: the first step completes, then it stops
  const stopped = await runSupernet(src, opts, (l) => { if (l.startsWith('backend')) process.emit('SIGINT'); }).then(() => 'finished', (e: unknown) => e);
  assert.instance(stopped, InterruptedError);
  assert.is(process.listenerCount('SIGINT'), before, 'the handler is removed');
  assert.not.ok(existsSync(out), 'no model file from a stopped run');
  const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { epoch: number; step: number };
  assert.equal([saved.epoch, saved.step], [0, 1]);
  const lines: string[] = [];
  await runSupernet(src, { ...opts, resume: true }, (l) => lines.push(l));
  assert.ok(lines.some((l) => l.startsWith('resuming')));
  assert.ok(existsSync(out));
  assert.not.ok(existsSync(checkpoint));
});

test('runSupernet: HASB without a sensitivity section is refused before training; uniform runs', async () => {
  const src = await multiFile(false);
  const common = { data: 'mnist', epochs: '1', trainLimit: '20', testLimit: '10', batch: '20', backend: 'cpu', progress: false };
  try {
    await runSupernet(src, { ...common, sampling: 'hasb', out: join(dir, 'x.bsw') }, () => {});
    assert.unreachable('expected an error');
  } catch (e) {
    assert.match((e as Error).message, /HASB sampling needs a sensitivity section \(run bitswitch sensitivity/);
  }
  const out = join(dir, 'uniform.bsw');
  await runSupernet(src, { ...common, sampling: 'uniform', out }, () => {});
  assert.is(readModel(readFileSync(out)).mode, 'mixed');
  try {
    await runSupernet(out, { ...common, sampling: 'uniform', out: join(dir, 'y.bsw') }, () => {});
    assert.unreachable('expected an error');
  } catch (e) {
    assert.match((e as Error).message, /mode: expected 'multi'/);
  }
});

test.run();
