/**
 * Bundles the command line for bin/meshchat.js: dist/src/cli/index.js and everything it imports
 * into a few files in dist/bin/, run after tsc by `npm run build`.
 *
 * Why: a one-shot command (`meshchat send`) spent most of its time loading modules. The command
 * line imports about 920 ES modules (libp2p and its helpers, zod, yargs), and Node 20 resolves,
 * stats, opens and links each one: 0.9–1.0 s of a 1.25–1.3 s `meshchat send` on the 2-core CI
 * kind, against about 0.3 s for the same code bundled. Node 20 has no module compile cache
 * (`module.enableCompileCache` came in 22), so this is the way to cut it.
 *
 * What stays out: the native addons (sodium-native, classic-level under level), which load their
 * prebuilt binaries relative to their own package, and ink's optional react-devtools-core. The
 * library entry points (`meshchat`, `meshchat/testing`) stay the unbundled modules of dist/src.
 * The chat screen (ink, React) is a chunk of its own, loaded only by the commands that draw.
 */
import { rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

// dist/scripts/ when compiled
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const outdir = join(root, 'dist', 'bin')

await rm(outdir, { recursive: true, force: true })
await build({
  entryPoints: [join(root, 'dist', 'src', 'cli', 'index.js')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  external: ['sodium-native', 'classic-level', 'react-devtools-core'],
  // CommonJS dependencies inside an ES module bundle still call require() for Node's built-ins
  banner: { js: 'import { createRequire as meshchatCreateRequire } from \'node:module\'; const require = meshchatCreateRequire(import.meta.url);' },
  // no keepNames: it wraps every function in __name(), which redefines its `name` and so turns each
  // closure made at run time (libp2p makes several per stream and per event listener) into one
  // with a 256-byte property dictionary, and costs a defineProperty per closure. Nothing is
  // minified, so names stay as written except where two modules' top-level names collide
  // (`Job2`); errors name themselves (`this.name = …`), which is what meshchat and libp2p check.
  // mapped through tsc's maps back to src/, for `node --enable-source-maps`
  sourcemap: 'linked',
  logLevel: 'warning'
})
