// bitswitch: one model file, every precision.
// Each command lives in its package; only the module of the command being run is imported
// (the trainer's pull in TensorFlow.js, which `inspect` should not pay for).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { inspectCommand } from './inspect.ts';
import { demoCommand } from './demo.ts';
import { register as registerServe } from './commands/serve.ts';
import { errorReport } from './errors.ts';

/** Command name → module that registers it. */
const MODULES: Record<string, string> = {
  train: '@bitswitch/trainer/cli',
  pretrain: '@bitswitch/trainer/cli',
  eval: '@bitswitch/trainer/cli',
  supernet: '@bitswitch/trainer/hasb-cli',
  sensitivity: '@bitswitch/trainer/hessian-cli',
  search: '@bitswitch/search/cli',
  pareto: '@bitswitch/search/cli',
  import: './commands/import.ts',
  export: './commands/export.ts',
};

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const wanted = process.argv[2];
const command = wanted && !wanted.startsWith('-') ? wanted : undefined;
const prefix = command ? `bitswitch ${command}` : 'bitswitch';

const program = new Command();
program.name('bitswitch').description('Train once, store int8, run at any bit-width (Double Rounding, ALRS, HASB).')
  .version(version, '-V, --version', 'print the version')
  .option('--debug', 'on an unexpected failure, print its stack trace')
  .showHelpAfterError(false)
  // commander's own errors (unknown option, missing argument) in the same one-line style as ours
  .configureOutput({
    outputError: (text, write) => write(`${prefix}: ${text.replace(/^error: /, '').trim()} — see ${prefix} --help\n`),
  });

program.command('inspect')
  .description('print the layers, bit list, sizes at each precision, optional sections and checksum status of a model file')
  .argument('<file>', 'a .bsw model file')
  .action((file: string) => { process.exitCode = inspectCommand(file); });

program.command('demo')
  .description('train the MNIST CNN jointly on {8,6,4,2} from its FP32 model (embedded MNIST), export one file, run it at every precision on the CPU runtime')
  .option('--out <dir>', 'where the run, checkpoint and model.bsw go (default: a new temp folder)')
  .option('--workers <n>', 'threads computing gradients (default: every core)')
  .action(async (o: { out?: string; workers?: string }) => { await demoCommand(o.out, o.workers); });

registerServe(program);

// --version needs no command module; --help and an unknown command list them all
const modules = command && command in MODULES ? [MODULES[command]] : command === 'inspect' || command === 'demo' || command === 'serve' || wanted === '--version' || wanted === '-V' ? [] : [...new Set(Object.values(MODULES))];
for (const m of modules) {
  const deps = m === '@bitswitch/search/cli' ? { evaluator: (await import('./evaluate.ts')).runtimeEvaluator } : undefined;
  ((await import(m)) as { register: (p: Command, d?: unknown) => void }).register(program, deps);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const debug = process.argv.includes('--debug') || !!process.env.BITSWITCH_DEBUG;
  const r = errorReport(e, prefix, debug);
  console.error(r.text);
  process.exit(r.code);
}
