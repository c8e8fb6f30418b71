#!/usr/bin/env node
// The installed `callmind` command. It runs the compiled CLI in dist/, which `npm run build`
// (and so `npm install`, through prepare) writes; from a checkout, `npm run callmind` needs no build.

// npm start runs node with --enable-source-maps; a bin cannot pass node flags, so turn the same
// setting on before the compiled modules load.
process.setSourceMapsEnabled(true);
const { runCli } = await import('../dist/cli/main.js');
process.exitCode = await runCli(process.argv.slice(2));
