/**
 * Errors that cross the wire or reach a person. Each is identified by `name` (tests assert the
 * name, never the text); `exitCode` is what the CLI exits with when one ends the program.
 */

export class MeshchatError extends Error {
  static readonly exitCode: number = 1
  readonly exitCode: number = 1
  constructor (message: string) {
    super(message)
    this.name = 'MeshchatError'
  }
}

function errorClass (name: string, exitCode: number): new (message: string) => MeshchatError {
  const cls = class extends MeshchatError {
    override readonly exitCode = exitCode
    constructor (message: string) {
      super(message)
      this.name = name
    }
  }
  Object.defineProperty(cls, 'name', { value: name })
  return cls
}

/** A field a person or a peer gave is not acceptable; the message says which rule it broke. */
export const InvalidInputError = errorClass('InvalidInputError', 2)
/** A frame from a peer could not be decoded or failed validation. */
export const InvalidMessageError = errorClass('InvalidMessageError', 1)
export const UsernameTakenError = errorClass('UsernameTakenError', 3)
export const UnknownUserError = errorClass('UnknownUserError', 3)
export const WrongPasswordError = errorClass('WrongPasswordError', 4)
export const RateLimitedError = errorClass('RateLimitedError', 4)
export const AccountDisabledError = errorClass('AccountDisabledError', 4)
export const NotLoggedInError = errorClass('NotLoggedInError', 5)
/** The device certificate is missing, forged, expired or does not match the device. */
export const InvalidCertificateError = errorClass('InvalidCertificateError', 5)
export const InvalidSignatureError = errorClass('InvalidSignatureError', 1)
/** The rendezvous node could not be reached. */
export const UnreachableError = errorClass('UnreachableError', 6)
/** The rendezvous node answered with a different key than the one pinned for its address. */
export const ServerKeyChangedError = errorClass('ServerKeyChangedError', 7)
/** No device of the user is online (a later issue adds offline delivery). */
export const OfflineError = errorClass('OfflineError', 8)
export const TimeoutError = errorClass('TimeoutError', 9)
export const ServerBusyError = errorClass('ServerBusyError', 10)
/** A direct message or request that the chat's state does not allow (not accepted, declined, closed). */
export const ChatNotAcceptedError = errorClass('ChatNotAcceptedError', 12)
export const RoomTakenError = errorClass('RoomTakenError', 3)
export const UnknownRoomError = errorClass('UnknownRoomError', 3)
/** The account is not a member of the room (or may not do this in it). */
export const NotMemberError = errorClass('NotMemberError', 13)
/** A quota of the rendezvous node's file store: what may wait for an account, a sender's share, files per account. */
export const QuotaExceededError = errorClass('QuotaExceededError', 14)
/** A file over the size limit of the device that sends or fetches it (issue 9). */
export const FileTooLargeError = errorClass('FileTooLargeError', 15)
/** No such file offer here, or the serving device does not hold (or no longer holds) the file. */
export const UnknownFileError = errorClass('UnknownFileError', 3)
/** A chunk or the whole file does not match the signed offer: it is refused, never shown as received. */
export const FileVerificationError = errorClass('FileVerificationError', 16)
/** No room left on the disk for a file; what arrived so far stays partial. */
export const DiskFullError = errorClass('DiskFullError', 17)
/** Only a relayed connection reaches the serving device: file bytes wait for a direct one unless allowed. */
export const RelayOnlyError = errorClass('RelayOnlyError', 18)

/** Errors the wire may carry by name; anything else becomes a plain MeshchatError. */
const byName: Record<string, new (message: string) => MeshchatError> = {
  InvalidInputError,
  InvalidMessageError,
  UsernameTakenError,
  UnknownUserError,
  WrongPasswordError,
  RateLimitedError,
  AccountDisabledError,
  NotLoggedInError,
  InvalidCertificateError,
  InvalidSignatureError,
  UnreachableError,
  ServerKeyChangedError,
  OfflineError,
  TimeoutError,
  ServerBusyError,
  ChatNotAcceptedError,
  RoomTakenError,
  UnknownRoomError,
  NotMemberError,
  QuotaExceededError,
  FileTooLargeError,
  UnknownFileError,
  FileVerificationError,
  DiskFullError,
  RelayOnlyError
}

export interface WireError {
  name: string
  message: string
}

export function toWireError (err: unknown): WireError {
  if (err instanceof MeshchatError && Object.hasOwn(byName, err.name)) {
    return { name: err.name, message: err.message }
  }
  return { name: 'MeshchatError', message: 'internal error' }
}

export function fromWireError (err: WireError): MeshchatError {
  // own keys only: a peer naming "toString" or "__proto__" must not reach Object.prototype
  const cls = Object.hasOwn(byName, err.name) ? byName[err.name] : undefined
  if (cls == null) {
    return new MeshchatError(err.message)
  }
  return new cls(err.message)
}
