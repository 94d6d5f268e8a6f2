import type { ModelSource, RelaxedSimdSupport } from '@bitswitch/runtime';

export declare const COUNT: number;
export declare const SEED: number;

export interface ClassifyResult {
  /** rt.info.backend: kernels-relaxed, kernels-simd or kernels-scalar. */
  backend: string;
  relaxedSimd: RelaxedSimdSupport;
  threads: number;
  bits: Record<string, { predictions: number[]; logits: number[] }>;
}

export declare function classifyAll(source: ModelSource): Promise<ClassifyResult>;
