#!/usr/bin/env node
// The polyfill must be in place before libp2p loads (Node 20 lacks Promise.withResolvers).
await import('../dist/src/polyfill.js')
const { main } = await import('../dist/src/cli/index.js')
const code = await main(process.argv.slice(2))
// libp2p keeps timers for about a second after stopping; a finished command exits now
process.exit(code)
