// bitswitch: one model file, every precision.
// Each command lives in its own module under commands/; only the module of the command being run
// is imported (the trainer's commands pull in TensorFlow.js, which `inspect` should not pay for).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { errorReport } from './errors.ts';

/** Command name → the module that registers it. */
const COMMANDS: Record<string, () => Promise<{ register: (program: Command) => void }>> = {
  train: () => import('./commands/train.ts'),
  pretrain: () => import('./commands/pretrain.ts'),
  eval: () => import('./commands/eval.ts'),
  supernet: () => import('./commands/supernet.ts'),
  sensitivity: () => import('./commands/sensitivity.ts'),
  search: () => import('./commands/search.ts'),
  recalibrate: () => import('./commands/recalibrate.ts'),
  pareto: () => import('./commands/pareto.ts'),
  inspect: () => import('./commands/inspect.ts'),
  demo: () => import('./commands/demo.ts'),
  serve: () => import('./commands/serve.ts'),
  import: () => import('./commands/import.ts'),
  export: () => import('./commands/export.ts'),
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

// --version needs no command module; --help and an unknown command list them all
const names = command && command in COMMANDS ? [command] : wanted === '--version' || wanted === '-V' ? [] : Object.keys(COMMANDS);
for (const name of names) (await COMMANDS[name]()).register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const debug = process.argv.includes('--debug') || !!process.env.BITSWITCH_DEBUG;
  const r = errorReport(e, prefix, debug);
  console.error(r.text);
  process.exit(r.code);
}
