// Backend selection for the trainer: the backend module (trainer/src/backend) when it loads,
// else TensorFlow.js's cpu backend, with the reason reported to the caller.
import * as tf from '@tensorflow/tfjs';

export async function useBackend(pref = 'auto'): Promise<{ name: string; note?: string }> {
  if (pref === 'cpu') { await tf.setBackend('cpu'); return { name: 'cpu' }; }
  try {
    const mod = (await import('./backend/index.ts')) as { initBackend: (p: string) => Promise<{ name: string }> };
    const choice = await mod.initBackend(pref);
    return { name: choice.name };
  } catch (e) {
    if (pref !== 'auto') throw e;
    await tf.setBackend('cpu');
    return { name: 'cpu', note: `backend module failed: ${(e as Error).message.split('\n')[0]}` };
  }
}
