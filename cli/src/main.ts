// bitswitch: one model file, every precision.
import { Command } from 'commander';
import { inspectCommand } from './inspect.ts';

const program = new Command();
program.name('bitswitch').description('Train once, store int8, run at any bit-width (Double Rounding, ALRS, HASB).');

program.command('inspect')
  .description('print the layers, bit list, sizes at each precision, optional sections and checksum status of a model file')
  .argument('<file>', 'a .bsw model file')
  .action((file: string) => { process.exitCode = inspectCommand(file); });

await program.parseAsync(process.argv);
