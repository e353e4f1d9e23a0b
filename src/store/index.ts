export * from './db.js'
export * from './rendezvous-state.js'
export * from './client-store.js'
export * from './people-store.js'
