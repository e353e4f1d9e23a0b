#!/usr/bin/env node
// The polyfill must be in place before libp2p loads (Node 20 lacks Promise.withResolvers).
await import('../dist/src/polyfill.js')
// the old generation grows by half past what is live, not up to 4× (src/heap.ts)
const { tuneHeap } = await import('../dist/src/heap.js')
try {
  tuneHeap()
} catch (err) {
  process.stderr.write(`meshchat: ${err.message}\n`)
  process.exit(2)
}
// the command line bundled by `npm run build` (scripts/bundle.ts): it loads in a third of the time
const { main } = await import('../dist/bin/index.js')
const code = await main(process.argv.slice(2))
// libp2p keeps timers for about a second after stopping; a finished command exits now
process.exit(code)
