// Plain Node, no loader, no flags: node node.js MODEL.bsw → one JSON line.
import { classifyAll } from './classify.js';

console.log(JSON.stringify(await classifyAll(process.argv[2])));
