export * from './db.js'
export * from './rendezvous-state.js'
