// mocha's spec reporter, then one plain line `N passed, N failed` that every log reader counts.
const Mocha = require('mocha')

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor (runner, options) {
    super(runner, options)
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const s = runner.stats
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed${s.pending > 0 ? `, ${s.pending} skipped` : ''}\n`)
    })
  }
}

module.exports = SpecWithSummary
