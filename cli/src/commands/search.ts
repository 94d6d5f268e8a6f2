// `bitswitch search MODEL`: ILP SubNet search (Algorithm 2) over a budget sweep, from the model's
// sensitivity section; the SubNets go into the model file (or --out, or a --json sidecar).
import type { Command } from 'commander';
import { BUDGET_KINDS, OBJECTIVES } from '@bitswitch/search';
import { runSearch, type SearchOptions } from '@bitswitch/search/run';
import { collect } from '../options.ts';

export function register(program: Command, deps: { log?: (line: string) => void } = {}): void {
  const log = deps.log ?? console.log;
  program.command('search')
    .description('ILP SubNet search (Algorithm 2): sweep a budget, re-solve with each layer pinned to each other bit, keep distinct SubNets')
    .argument('<model>', 'a .bsw model file with a sensitivity section')
    .option('--budget <kind=values>', `budget (required, repeatable): KIND=VALUE or KIND=FROM..TO[:STEP]; KIND one of ${BUDGET_KINDS.join(', ')}; one range is swept, single values are caps`, collect)
    .option('--latency <table.json>', "per-layer latency table from the runtime's measureLayerLatency ([{layer, bits, ms}])")
    .option('--objective <name>', `${OBJECTIVES.join(' | ')} (default perturbation: Σ s_l·‖Ŵ_h − Ŵ_l(b_l)‖², s_l the bounded sensitivity: upper confidence bound of tr(H_l)/n_l, floored above 0)`)
    .option('--band <width>', 'solve each swept value v as the band [v − width, v] (default: "at most v")', Number)
    .option('--no-pin', "skip Algorithm 2's pinned re-solves")
    .option('--json <file>', 'write the SubNets to a sidecar JSON instead of the model file')
    .option('--out <file>', 'write the model with its SubNet section to this file instead of overwriting <model>')
    // errors reach the program's handler, which prints them in the bitswitch style
    .action(async (model: string, opts: SearchOptions) => { await runSearch(model, opts, log); });
}
