// `bitswitch pareto MODEL`: every SubNet evaluated by the runtime on a test split, accuracy plotted
// against a budget with each series' Pareto frontier (SVG or HTML, points as JSON).
import type { Command } from 'commander';
import { BUDGET_KINDS, type EvaluatorFactory } from '@bitswitch/search';
import { runPareto, type ParetoOptions } from '@bitswitch/search/run';
import { runtimeEvaluator } from '../evaluate.ts';

export interface ParetoDeps {
  /** Evaluation on --data (default: the runtime's integer kernels on the test split). */
  evaluator?: EvaluatorFactory;
  log?: (line: string) => void;
}

export function register(program: Command, deps: ParetoDeps = {}): void {
  const log = deps.log ?? console.log;
  program.command('pareto')
    .description('evaluate every SubNet (inference) and plot the accuracy/budget Pareto frontier (SVG or HTML)')
    .argument('<model>', 'a .bsw model file with SubNets (from bitswitch search)')
    .requiredOption('--data <name>', 'evaluation data set: mnist | fashion-mnist (its test split)')
    .option('--baseline <model>', 'second SuperNet to plot beside it (e.g. trained with uniform sampling); uses its own SubNets, else those of <model>')
    .option('--label <name>', 'series name of <model>', 'HASB')
    .option('--baseline-label <name>', 'series name of --baseline', 'uniform sampling')
    .option('--x <kind>', `budget on the x axis: ${BUDGET_KINDS.join(', ')}`, 'avg-bits')
    .option('--latency <table.json>', 'latency table, for --x latency')
    .option('--limit <n>', 'evaluate on the first n examples only (default: the whole test split)', Number)
    .option('--out <file>', 'plot file, .svg or .html', 'pareto.svg')
    .option('--json <file>', 'also write the points and frontiers as JSON')
    .option('--sweep-only', 'evaluate only the swept optima, not the pinned SubNets (names with /LAYER@BITS)')
    .option('--write', "store each SubNet's accuracy in the model file")
    .action(async (model: string, opts: ParetoOptions) => {
      const evaluate = await (deps.evaluator ?? runtimeEvaluator)(opts.data, { limit: opts.limit });
      await runPareto(model, opts, evaluate, log);
    });
}
