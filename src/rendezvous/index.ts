export * from './rendezvous.js'
export * from './presence.js'
export * from './log.js'
export * from './constants.js'
