// Adam with decoupled-from-tf state (step count, first and second moments as plain
// variables) so a checkpoint restores it exactly, and with L2 weight decay added to the
// gradient as PyTorch's Adam(weight_decay) does. Variables without a gradient this step are
// left untouched (PyTorch skips parameters whose grad is None).
import * as tf from '@tensorflow/tfjs';
import { ADAM, fusedKernelsActive, type AdamAttrs } from '../tfjs/kernels/fused.ts';

export interface AdamConfig { beta1: number; beta2: number; epsilon: number; weightDecay: number }
export const ADAM_DEFAULTS: AdamConfig = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 };

export interface AdamState { step: number; m: Record<string, Float32Array>; v: Record<string, Float32Array> }

export class Adam {
  step = 0;
  private m = new Map<string, tf.Variable>();
  private v = new Map<string, tf.Variable>();

  constructor(readonly config: AdamConfig) {}

  private moments(name: string, like: tf.Variable): [tf.Variable, tf.Variable] {
    let m = this.m.get(name);
    let v = this.v.get(name);
    if (!m || !v) {
      m = tf.variable(tf.zerosLike(like), false);
      v = tf.variable(tf.zerosLike(like), false);
      this.m.set(name, m);
      this.v.set(name, v);
    }
    return [m, v];
  }

  /** One step at learning rate `lr` for the variables in `grads` (name → gradient). */
  apply(vars: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    this.step++;
    const { beta1, beta2, epsilon, weightDecay } = this.config;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    // on wasm one fused pass per variable (the same float32 operations in the same order)
    const fused = fusedKernelsActive();
    const attrs: AdamAttrs = { wd: weightDecay, b1: beta1, nb1: 1 - beta1, b2: beta2, nb2: 1 - beta2, c1, c2, eps: epsilon, lr };
    tf.tidy(() => {
      for (const [name, g0] of Object.entries(grads)) {
        const p = vars.get(name);
        if (!p) throw new RangeError(`grads: no variable named ${name}`);
        const [m, v] = this.moments(name, p);
        if (fused) {
          const [p2, m2, v2] = tf.engine().runKernel(ADAM, { p, g: g0, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
          m.assign(m2!);
          v.assign(v2!);
          p.assign(p2!);
          continue;
        }
        const g = weightDecay ? tf.add(g0, tf.mul(p, weightDecay)) : g0;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), epsilon));
        p.assign(tf.sub(p, tf.mul(update, lr)));
      }
    });
  }

  async getState(): Promise<AdamState> {
    const read = async (mp: Map<string, tf.Variable>) => {
      const values = await Promise.all([...mp.values()].map((t) => t.data()));
      return Object.fromEntries([...mp.keys()].map((k, i) => [k, values[i] as Float32Array]));
    };
    return { step: this.step, m: await read(this.m), v: await read(this.v) };
  }

  setState(state: AdamState, vars: Map<string, tf.Variable>): void {
    this.step = state.step;
    for (const [name, arr] of Object.entries(state.m)) {
      const p = vars.get(name);
      if (!p) throw new RangeError(`optimizer state: no variable named ${name}`);
      const [m, v] = this.moments(name, p);
      m.assign(tf.tensor(arr, p.shape));
      v.assign(tf.tensor(state.v[name], p.shape));
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
