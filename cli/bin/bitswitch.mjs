#!/usr/bin/env node
// The bitswitch command: the compiled JavaScript in dist/, run by plain Node. Under the
// bitswitch-source package condition (the workspace's test runner sets it) the package resolves to
// its TypeScript sources instead, which run through tsx's loader (a dev dependency of this package).
const entry = import.meta.resolve('@bitswitch/cli');
if (entry.endsWith('.ts')) (await import('tsx/esm/api')).register();
await import(entry);
