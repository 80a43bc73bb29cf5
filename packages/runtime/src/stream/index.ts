export { CreditBalance, CreditWindow, normalizeCredit } from "./credit.ts";
export {
  type EncodedErrorReply,
  errorReply,
  isNoResponders,
  publishErrorReply,
  readErrorReply,
} from "./error-reply.ts";
export { requestReply } from "./receiver.ts";
export { effectiveBatchBytes, sendReply } from "./sender.ts";
export * from "./types.ts";
