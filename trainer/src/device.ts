// Backend selection for the trainer, via the backend module (trainer/src/backend).
import { initBackend, type BackendPref } from './backend/index.ts';

export async function useBackend(pref = 'auto'): Promise<{ name: string; tried: string }> {
  const choice = await initBackend(pref as BackendPref);
  return { name: choice.name, tried: choice.tried.map((t) => (t.error ? `${t.name}: ${t.error.split('\n')[0]}` : t.name)).join('; ') };
}
