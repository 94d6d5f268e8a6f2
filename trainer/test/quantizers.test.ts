import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readVectors } from '@bitswitch/format/node';
import * as tf from '@tensorflow/tfjs';
import { quantizeWeight, doubleRound, quantizeActivation, roundHalfEven } from '@bitswitch/format';
import { activationQuantize, doubleRoundingQuantize, dorefaQuantize, initActivationScale, initWeightScale, lsqGradScale, signedLimits } from '../src/quantizers.ts';
import { Rng } from '../src/rng.ts';

await tf.setBackend('cpu');
const vec = (f: string) => readVectors(f);

interface DrCase { h: number; scale: number; w: number[]; wh: number[]; low: Record<string, { wl: number[]; dequant: number[] }> }
interface ActCase { x: number[]; bits: Record<string, { scale: number; xq: number[]; dequant: number[] }> }

const f32 = (x: number) => Math.fround(x);

test('double rounding matches double_rounding.json (all cases, all bits) and the format reference', () => {
  const cases = vec('double_rounding.json').cases as DrCase[];
  assert.ok(cases.length > 0);
  for (const [ci, c] of cases.entries()) {
    const w = tf.tensor(c.w);
    const s = tf.tensor([c.scale]);
    const scale32 = f32(c.scale);
    for (const [ls, exp] of Object.entries(c.low)) {
      const l = Number(ls);
      const got = doubleRoundingQuantize(w, s, c.h, l, 1).dataSync();
      for (let i = 0; i < c.w.length; i++) {
        // format reference on the same float32 inputs
        const ref = doubleRound(quantizeWeight(f32(c.w[i]), scale32, c.h), c.h, l);
        assert.is(ref, exp.wl[i], `case ${ci} l=${l} i=${i}: format reference wl`);
        assert.is(quantizeWeight(f32(c.w[i]), scale32, c.h), c.wh[i], `case ${ci} wh[${i}]`);
        // the trainer's fake-quantized value is W̃_l·s_h·2^Δ in float32
        assert.is(got[i], f32(f32(exp.wl[i] * f32(scale32 * 2 ** (c.h - l)))), `case ${ci} l=${l} i=${i}: dequant`);
        assert.ok(Math.abs(got[i] - exp.dequant[i]) <= 1e-6 * Math.max(1, Math.abs(exp.dequant[i])), `case ${ci} l=${l} i=${i}: ${got[i]} vs ${exp.dequant[i]}`);
      }
    }
  }
});

test('activation quantizer matches activation.json (all cases, all bits)', () => {
  const cases = vec('activation.json').cases as ActCase[];
  assert.ok(cases.length > 0);
  for (const [ci, c] of cases.entries()) {
    const x = tf.tensor(c.x);
    for (const [bs, exp] of Object.entries(c.bits)) {
      const b = Number(bs);
      const got = activationQuantize(x, tf.tensor([exp.scale]), b, 1).dataSync();
      for (let i = 0; i < c.x.length; i++) {
        assert.is(quantizeActivation(f32(c.x[i]), f32(exp.scale), b), exp.xq[i], `case ${ci} b=${b} i=${i}: format reference`);
        assert.is(got[i], f32(exp.xq[i] * f32(exp.scale)), `case ${ci} b=${b} i=${i}`);
      }
    }
  }
});

test('tf.round ties go to even (2.5 → 2, -2.5 → -2, 0.5 → 0, 1.5 → 2)', () => {
  assert.equal(Array.from(tf.round(tf.tensor([2.5, -2.5, 0.5, 1.5, -0.5])).dataSync()), [2, -2, 0, 2, -0]);
});

/** Random values that stay ≥ 0.05 away from rounding boundaries of v = w/S and from the clip edges. */
function awayFromBoundaries(rng: Rng, count: number, S: number, lo: number, hi: number): number[] {
  const out: number[] = [];
  while (out.length < count) {
    const v = lo - 2 + rng.uniform() * (hi - lo + 4);
    const frac = v - Math.floor(v);
    if (Math.abs(frac - 0.5) < 0.05 || Math.abs(v - lo) < 0.05 || Math.abs(v - hi) < 0.05) continue;
    out.push(v * S);
  }
  return out;
}

test('weight STE gradients equal the closed forms of eq. 13–14 (times 2^Δ and g), per tensor and per channel', () => {
  const rng = new Rng(7);
  for (const [h, l] of [[8, 8], [8, 6], [8, 4], [8, 2], [4, 3], [4, 2]]) {
    for (const perChannel of [false, true]) {
      const C = 3;
      const K = 20;
      const sv = perChannel ? [0.01, 0.02, 0.005] : [0.013];
      const step = 2 ** (h - l);
      const [n, p] = signedLimits(l);
      const w = new Float32Array(K * C);
      for (let c = 0; c < C; c++) {
        const vals = awayFromBoundaries(rng, K, sv[perChannel ? c : 0] * step, n, p);
        for (let k = 0; k < K; k++) w[k * C + c] = vals[k];
      }
      const dy = Array.from({ length: K * C }, () => rng.normal());
      const g = lsqGradScale(K, p);
      const [dW, dS] = tf.grads((wt, st) => tf.sum(tf.mul(doubleRoundingQuantize(wt, st, h, l, g), tf.tensor(dy, [K, C]))))([tf.tensor(w, [K, C]), tf.tensor(sv)]);
      const dw = dW.dataSync();
      const ds = dS.dataSync();
      const expS = new Array(sv.length).fill(0);
      for (let i = 0; i < w.length; i++) {
        const c = i % C;
        const S = f32(sv[perChannel ? c : 0] * step);
        const v = w[i] / S;
        const inside = n < v && v < p;
        assert.is(dw[i], inside ? f32(dy[i]) : 0, `dW h=${h} l=${l} i=${i}`);
        const wl = doubleRound(quantizeWeight(w[i], f32(sv[perChannel ? c : 0]), h), h, l);
        // W̃_l is round(v) except where the first rounding lands on a tie of the second (double-rounding error ≤ 1)
        if (h === l) assert.is(wl, Math.min(p, Math.max(n, roundHalfEven(v))));
        else assert.ok(Math.abs(wl - Math.min(p, Math.max(n, roundHalfEven(v)))) <= 1);
        expS[perChannel ? c : 0] += dy[i] * (inside ? wl - v : v <= n ? n : p) * step * g;
      }
      for (let j = 0; j < sv.length; j++) assert.ok(Math.abs(ds[j] - expS[j]) < 1e-4 * (1 + Math.abs(expS[j])), `dS h=${h} l=${l}: ${ds[j]} vs ${expS[j]}`);
    }
  }
});

test('activation STE gradients equal the closed forms (LSQ, unsigned)', () => {
  const rng = new Rng(9);
  for (const b of [8, 6, 4, 3, 2]) {
    const Q = 2 ** b - 1;
    const s = 0.07;
    const x = awayFromBoundaries(rng, 64, s, 0, Q).map((v) => Math.max(v, -0.3));
    const dy = x.map(() => rng.normal());
    const g = lsqGradScale(64, Q);
    const [dX, dS] = tf.grads((xt, st) => tf.sum(tf.mul(activationQuantize(xt, st, b, g), tf.tensor(dy))))([tf.tensor(x), tf.tensor([s])]);
    const dx = dX.dataSync();
    let exp = 0;
    for (let i = 0; i < x.length; i++) {
      const v = f32(x[i]) / f32(s);
      const inside = 0 < v && v < Q;
      assert.is(dx[i], inside ? f32(dy[i]) : 0);
      exp += dy[i] * (inside ? roundHalfEven(v) - v : v <= 0 ? 0 : Q) * g;
    }
    assert.ok(Math.abs(dS.dataSync()[0] - exp) < 1e-4 * (1 + Math.abs(exp)), `b=${b}`);
  }
});

test('finite differences: away from rounding boundaries Ŵ is locally s·2^Δ·W̃_l, so ∂Ŵ/∂s = 2^Δ·W̃_l = STE − 2^Δ·(−v)', () => {
  // The STE scale gradient (eq. 13) is the finite-difference slope 2^Δ·W̃_l minus 2^Δ·v (LSQ's term for
  // the step's effect on the rounding error). Check both parts numerically on one value.
  const h = 8, l = 4, s = 0.01, w = 0.2337;
  const step = 2 ** (h - l);
  const q = (sv: number) => doubleRoundingQuantize(tf.tensor([w]), tf.tensor([sv]), h, l, 1).dataSync()[0];
  const eps = 1e-6;
  const fd = (q(s + eps) - q(s - eps)) / (2 * eps);
  const wl = doubleRound(quantizeWeight(w, s, h), h, l);
  assert.ok(Math.abs(fd - step * wl) < 1e-2 * Math.abs(step * wl), `fd ${fd} vs ${step * wl}`);
  const ste = tf.grad((st) => doubleRoundingQuantize(tf.tensor([w]), st, h, l, 1).sum())(tf.tensor([s])).dataSync()[0];
  assert.ok(Math.abs(ste - (fd - step * (w / (s * step)))) < 1e-2 * Math.abs(ste), `ste ${ste}`);
});

test('floor variant (Bit-Mixer) rounds the shift down and wastes no range clip', () => {
  const w = tf.tensor([0.37, -0.37, 0.11]);
  const s = tf.tensor([0.01]);
  // W̃_8 = 37, -37, 11; /4 → 9.25, -9.25, 2.75: floor → 9, -10, 2; round → 9, -9, 3
  assert.equal(Array.from(doubleRoundingQuantize(w, s, 8, 6, 1, 'floor').div(0.04).round().dataSync()), [9, -10, 2]);
  assert.equal(Array.from(doubleRoundingQuantize(w, s, 8, 6, 1).div(0.04).round().dataSync()), [9, -9, 3]);
});

test('dorefa weights take 2^b levels in [-1, 1] and pass gradients straight through round', () => {
  const rng = new Rng(3);
  const w = tf.tensor(Array.from({ length: 200 }, () => rng.normal() * 0.1));
  for (const b of [2, 4]) {
    const q = dorefaQuantize(w, b).dataSync();
    const levels = new Set(Array.from(q, (v) => Math.round(((v + 1) / 2) * (2 ** b - 1))));
    assert.ok(levels.size <= 2 ** b);
    for (const v of q) assert.ok(v >= -1 - 1e-6 && v <= 1 + 1e-6);
    const g = tf.grad((x) => dorefaQuantize(x, b).sum())(w).dataSync();
    assert.ok(g.some((v) => v !== 0));
  }
});

test('scale initialisation picks a scale no worse than the LSQ rule on every bit together', () => {
  const rng = new Rng(5);
  const w = Array.from({ length: 500 }, () => rng.normal() * 0.05);
  const s = initWeightScale(w, 8, [8, 6, 4, 2]);
  assert.ok(s > 0 && Number.isFinite(s));
  const x = Array.from({ length: 500 }, () => Math.max(0, rng.normal()));
  for (const b of [8, 2]) {
    const sa = initActivationScale(x, b);
    assert.ok(sa > 0 && sa <= Math.max(...x) / (2 ** b - 1) + 1e-12);
  }
});

test.run();
