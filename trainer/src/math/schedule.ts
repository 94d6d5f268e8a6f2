// Learning-rate schedule of every training loop.

/** Cosine schedule without warm-up: λ_t = λ_0 · (1 + cos(π t / T)) / 2. */
export function cosineRate(base: number, step: number, totalSteps: number): number {
  if (totalSteps <= 0) return base;
  return (base * (1 + Math.cos((Math.PI * Math.min(step, totalSteps)) / totalSteps))) / 2;
}
