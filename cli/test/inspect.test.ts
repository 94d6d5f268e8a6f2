import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = new URL('../bin/bitswitch.mjs', import.meta.url).pathname;
const golden = new URL('../../format/test/golden/tiny-v1.bsw', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

test('inspect prints layers, bits, sizes per precision, sections and checksums', () => {
  const r = run('inspect', golden);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /bitswitch format v1\.0, 8208 bytes/);
  assert.match(r.stdout, /GRPH .* ok/);
  assert.match(r.stdout, /bits: 8,6,4,2 {3}mode: mixed/);
  assert.match(r.stdout, /conv1 +conv2d +\[8,8,4\] +<- relu0 +3x3 4->4 s1x1 same, int8, scale per channel/);
  assert.match(r.stdout, /w2a2: 1\.3 KiB/);
  assert.match(r.stdout, /SUBN \(1 subnets\)/);
});

test('inspect on a corrupted file reports the checksum and the FormatError, exit 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bsw-'));
  const bytes = new Uint8Array(readFileSync(golden));
  bytes[4000] ^= 0xff; // inside TENS
  const bad = join(dir, 'bad.bsw');
  writeFileSync(bad, bytes);
  const r = run('inspect', bad);
  assert.is(r.status, 1);
  assert.match(r.stdout, /TENS .* MISMATCH/);
  assert.match(r.stderr, /^bitswitch inspect: \S+bad\.bsw: TENS checksum \(byte \d+\): expected the CRC-32 of the section.* — the file is damaged or not a bitswitch model\n$/);
});

test('inspect on a missing file says so, exit 1', () => {
  const r = run('inspect', '/nonexistent/model.bsw');
  assert.is(r.status, 1);
  assert.is(r.stderr, 'bitswitch inspect: /nonexistent/model.bsw: no such file or folder — check the path\n');
});

test.run();
