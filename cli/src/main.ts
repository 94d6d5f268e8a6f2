// bitswitch: one model file, every precision.
// Each command lives in its package; only the module of the command being run is imported
// (the trainer's pull in TensorFlow.js, which `inspect` should not pay for).
import { Command } from 'commander';
import { inspectCommand } from './inspect.ts';
import { demoCommand } from './demo.ts';

/** Command name → module that registers it. */
const MODULES: Record<string, string> = {
  train: '@bitswitch/trainer/cli',
  eval: '@bitswitch/trainer/cli',
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

program.command('demo')
  .description('train the MNIST CNN jointly on {8,6,4,2} from its FP32 model (embedded MNIST), export one file, run it at every precision on the CPU runtime')
  .option('--out <dir>', 'where the run, checkpoint and model.bsw go (default: a new temp folder)')
  .option('--workers <n>', 'threads computing gradients (default: every core)')
  .action(async (o: { out?: string; workers?: string }) => { await demoCommand(o.out, o.workers); });

const wanted = process.argv[2];
const modules = wanted && wanted in MODULES ? [MODULES[wanted]] : wanted === 'inspect' || wanted === 'demo' ? [] : [...new Set(Object.values(MODULES))];
for (const m of modules) {
  const deps = m === '@bitswitch/search/cli' ? { evaluator: (await import('./evaluate.ts')).runtimeEvaluator } : undefined;
  ((await import(m)) as { register: (p: Command, d?: unknown) => void }).register(program, deps);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Bad input (flags, files, shapes) is reported in one line; anything else is a bug: full stack.
  const err = e as Error;
  if (err instanceof RangeError || err?.name === 'FormatError' || err?.name === 'DivergenceError' || err?.name === 'WorkerDiedError') {
    console.error(`bitswitch: ${err.message}`);
    process.exit(1);
  }
  console.error(err?.stack ?? err);
  process.exit(2);
}
