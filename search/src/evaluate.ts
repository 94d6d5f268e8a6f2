// Accuracy of a SubNet on a labelled set, for `bitswitch pareto`: the runtime's evaluator
// (runtime/src/evaluate.ts), and the function types the Pareto sweep takes.
import type { Model } from '@bitswitch/format';

export { accuracy, accuracyEvaluator, type Classifier, type LabelledSet } from '@bitswitch/runtime';

/**
 * Top-1 accuracy in [0, 1] of `model` run with one bit-width per quantized layer, or as one of its
 * SubNets by name (which brings the SubNet's own BatchNorm statistics, format 1.3); inference only.
 */
export type Evaluate = (model: Model, precision: number[] | string) => Promise<number>;
/** Makes an Evaluate for a data set path or name (--data). */
export type EvaluatorFactory = (data: string, options: { limit?: number }) => Promise<Evaluate>;
