/**
 * Entry point of the `ocifs` command (bin/ocifs.js imports this file).
 */
import { main } from './program.js';

process.exitCode = await main();
