// Adam with decoupled-from-tf state (step count, first and second moments as plain
// variables) so a checkpoint restores it exactly, and with L2 weight decay added to the
// gradient as PyTorch's Adam(weight_decay) does. Variables without a gradient this step are
// left untouched (PyTorch skips parameters whose grad is None).
import * as tf from '@tensorflow/tfjs';

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
    tf.tidy(() => {
      for (const [name, g0] of Object.entries(grads)) {
        const p = vars.get(name);
        if (!p) throw new RangeError(`grads: no variable named ${name}`);
        const [m, v] = this.moments(name, p);
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
