export * from './constants.js'
export * from './frames.js'
export * from './node.js'
export * from './channel.js'
