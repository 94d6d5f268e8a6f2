// Start of quantized training: every network takes the first one's float32 weights, per-bit BN
// sets start from the float32 ones, weight scales from initWeightScale, activation scales from
// initActivationScale on a fixed calibration batch (the first 256 training images, no
// augmentation) run at full precision.
import * as tf from '@tensorflow/tfjs';
import { makeBatch, NO_AUGMENT, type Dataset, type Split } from '../data/datasets.ts';
import { Rng } from '../math/rng.ts';
import { floatVariableNames, type Network } from '../nn/network.ts';
import { initActivationScale, initWeightScale } from '../quant/scale-init.ts';

export async function calibrate(nets: Network[], ds: Dataset, train: Split): Promise<void> {
  const [first, ...rest] = nets;
  const floatNames = floatVariableNames(first);
  const floatValues = await first.snapshot();
  for (const net of rest) for (const n of floatNames) net.v(n).assign(tf.tensor(floatValues[n], net.v(n).shape));
  const count = Math.min(256, train.count);
  const idx = Int32Array.from({ length: count }, (_, i) => i);
  const { x } = makeBatch(ds, train, idx, NO_AUGMENT, new Rng(0));
  for (const net of nets) {
    net.copyFloatBnToBits();
    const kept = new Map<string, tf.Tensor>();
    tf.tidy(() => {
      net.forward(tf.tensor4d(x, [count, ds.height, ds.width, ds.channels]), null, false, (name, t) => kept.set(name, tf.keep(t)));
    });
    const inputs = new Map<string, Float32Array>();
    try {
      for (const [name, t] of kept) inputs.set(name, (await t.data()) as Float32Array);
    } finally {
      tf.dispose([...kept.values()]);
    }
    const values = await net.snapshot();
    for (const q of net.quantized) {
      const k = net.v(`${q.name}/kernel`);
      const w = values[`${q.name}/kernel`];
      const cout = k.shape[k.shape.length - 1];
      const scaleNames = net.vars.has(`${q.name}/wscale`) ? [[`${q.name}/wscale`, net.quant.bits]] as const : net.quant.bits.map((b) => [`${q.name}/wscale@${b}`, [b]] as const);
      for (const [sn, bits] of scaleNames) {
        if (!net.vars.has(sn)) continue;
        const h = bits[0];
        const s = net.quant.perChannel
          ? Float32Array.from({ length: cout }, (_, c) => initWeightScale(w.filter((_, i) => i % cout === c), h, [...bits]))
          : Float32Array.of(initWeightScale(w, h, [...bits]));
        net.v(sn).assign(tf.tensor(s));
      }
      const a = inputs.get(q.name)!;
      for (const b of net.quant.bits) net.v(`${q.name}/ascale@${b}`).assign(tf.tensor([initActivationScale(a, b)]));
    }
  }
}
