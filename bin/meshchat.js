#!/usr/bin/env node
// The polyfill must be in place before libp2p loads (Node 20 lacks Promise.withResolvers).
await import('../dist/src/polyfill.js')
// the command line bundled by `npm run build` (scripts/bundle.ts): it loads in a third of the time
const { main } = await import('../dist/bin/index.js')
const code = await main(process.argv.slice(2))
// libp2p keeps timers for about a second after stopping; a finished command exits now
process.exit(code)
