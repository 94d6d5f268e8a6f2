// stopOnCtrlC, shared by `train`, `pretrain` and `supernet`: the first SIGINT asks the trainer to
// stop, the second quits at once with 130 and the resume hint; the remover takes the handler off.
// Run in a child process so that real signals and the real exit status are what is checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopOnCtrlC } from '../src/train-report.ts';

const helper = fileURLToPath(new URL('../src/train-report.ts', import.meta.url));

function child(body: string) {
  const script = `import { stopOnCtrlC } from ${JSON.stringify(helper)};\n${body}`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
}

test('first Ctrl-C requests the stop; the second quits with 130 and the message', () => {
  const r = child(`
    let stops = 0;
    stopOnCtrlC(() => { stops++; console.log('stop requested ' + stops); }, { before: () => console.log('before'), quitMessage: 'interrupted; resume hint' });
    process.kill(process.pid, 'SIGINT');
    setTimeout(() => { process.kill(process.pid, 'SIGINT'); }, 200);
    setTimeout(() => { console.log('still running'); }, 5000);
  `);
  assert.is(r.status, 130, r.stderr);
  assert.is(r.stdout, 'before\nstop requested 1\nbefore\n');
  assert.match(r.stderr, /stopping after the current step \(Ctrl-C again to quit now\)/);
  assert.match(r.stderr, /interrupted; resume hint\n$/);
});

test('the remover restores the default: a later Ctrl-C is not caught', () => {
  const r = child(`
    const remove = stopOnCtrlC(() => console.log('stop requested'));
    remove();
    process.kill(process.pid, 'SIGINT');
    setTimeout(() => { console.log('still running'); }, 5000);
  `);
  assert.is(r.signal, 'SIGINT');
  assert.is(r.stdout, '');
});

test('in process: one listener while installed, none after', () => {
  const before = process.listenerCount('SIGINT');
  const remove = stopOnCtrlC(() => {});
  assert.is(process.listenerCount('SIGINT'), before + 1);
  remove();
  assert.is(process.listenerCount('SIGINT'), before);
});

test.run();
