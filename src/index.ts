/**
 * meshchat as a library (`import { MeshClient } from 'meshchat'`): the client core and the
 * rendezvous node; the wire protocol (schemas, limits, named errors) as `protocol`. The
 * multi-node harness is `meshchat/testing`.
 */
import './polyfill.js'
export * from './client/index.js'
export * from './rendezvous/index.js'
export * as protocol from './protocol/index.js'
