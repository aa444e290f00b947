/**
 * Entry point of the `ocifs` command (bin/ocifs.js imports this file).
 */
import { reexecForDebug } from './debug.js';
import { main } from './program.js';

reexecForDebug();
process.exitCode = await main();
