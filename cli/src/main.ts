// bitswitch: one model file, every precision.
// Each command lives in its package; only the module of the command being run is imported
// (the trainer's pull in TensorFlow.js, which `inspect` should not pay for).
import { Command } from 'commander';
import { inspectCommand } from './inspect.ts';

type Register = (program: Command) => void;

/** Command name → module that registers it. */
const MODULES: Record<string, string> = {
  train: '@bitswitch/trainer/cli',
  eval: '@bitswitch/trainer/cli',
  demo: '@bitswitch/trainer/cli',
  supernet: '@bitswitch/trainer/hasb-cli',
  sensitivity: '@bitswitch/trainer/hessian-cli',
  search: '@bitswitch/search/cli',
  pareto: '@bitswitch/search/cli',
};

const program = new Command();
program.name('bitswitch').description('Train once, store int8, run at any bit-width (Double Rounding, ALRS, HASB).');

program.command('inspect')
  .description('print the layers, bit list, sizes at each precision, optional sections and checksum status of a model file')
  .argument('<file>', 'a .bsw model file')
  .action((file: string) => { process.exitCode = inspectCommand(file); });

const wanted = process.argv[2];
const modules = wanted && wanted in MODULES ? [MODULES[wanted]] : wanted === 'inspect' ? [] : [...new Set(Object.values(MODULES))];
for (const m of modules) ((await import(m)) as { register: Register }).register(program);

await program.parseAsync(process.argv);
