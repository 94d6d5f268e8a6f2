// `bitswitch pretrain`: a float32 model, the starting point of joint training, written as
// DIR/model-fp32.json with its accuracy (a train run with no quantized epochs).
import type { Command } from 'commander';
import { dflt, runOptions, type TrainOptions } from '../recipe-options.ts';
import { trainCommand } from './train.ts';

export function register(program: Command): void {
  const pretrain = program.command('pretrain')
    .description('train a float32 model (the starting point of joint training), write DIR/model-fp32.json with its accuracy')
    .requiredOption('--out <dir>', 'output folder (checkpoint.json, metrics.jsonl, model-fp32.json)')
    .option('--recipe <file>', 'recipe JSON; its pretrain fields are used')
    .option('--model <name>', `small-cnn | mnist-cnn | resnet8 | resnet20 ${dflt('model')}`)
    .option('--data <name>', `mnist | fashion-mnist ${dflt('data')}`)
    .option('--epochs <n>', `float32 epochs ${dflt('pretrainEpochs')}`)
    .option('--batch-size <n>', `images per batch ${dflt('batchSize')}`)
    .option('--lr <rate>', `float32 learning rate (cosine schedule) ${dflt('pretrainLr')}`);
  runOptions(pretrain).action(async (opts: TrainOptions) => {
    const { epochs, lr, ...rest } = opts;
    await trainCommand({ ...rest, ...(epochs !== undefined ? { pretrainEpochs: epochs } : {}), ...(lr !== undefined ? { pretrainLr: lr } : {}), epochs: '0' });
  });
}
