export { ByteBudget, OutstandingBatches } from "./budget.ts";
export { ControlGate, type ControlVerdict } from "./control-gate.ts";
export { CreditBalance, CreditWindow, MAX_CREDIT, normalizeCredit } from "./credit.ts";
export { encodeErrorBody, MAX_ERROR_BODY_BYTES, MAX_ERROR_MESSAGE_CHARS } from "./error-body.ts";
export {
  type EncodedErrorReply,
  errorReply,
  isNoResponders,
  publishErrorReply,
  readErrorReply,
} from "./error-reply.ts";
export { headerOf } from "./frame-headers.ts";
export { connectionInboxPrefix } from "./inbox-mux.ts";
export { requestReply } from "./receiver.ts";
export {
  effectiveBatchBytes,
  publishSingle,
  sendReply,
  streamEncoded,
  streamRequestOptions,
} from "./sender.ts";
export { newStreamKey, StreamKey } from "./stream-key.ts";
export * from "./types.ts";
export { WireHeaders, wireHeaders } from "./wire-headers.ts";
