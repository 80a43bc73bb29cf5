import { type Codec, type EntenteError, toJson, truncateText } from "@entente/protocol";

/**
 * The body of an error reply, bounded: whatever a service throws (a message quoting a megabyte
 * of input, details with a million entries, details that cannot be encoded at all), the reply
 * stays far below any server's max payload, so the caller always hears why it failed.
 */

export const MAX_ERROR_MESSAGE_CHARS = 2_000;
export const MAX_ERROR_BODY_BYTES = 16 * 1024;
const MAX_CODE_CHARS = 100;
const DETAILS_PREVIEW_CHARS = 1_000;

/**
 * `{ error: { code, message, retryable, details? } }` encoded: the message cut to
 * MAX_ERROR_MESSAGE_CHARS; details that would take the body past MAX_ERROR_BODY_BYTES, or that
 * cannot be encoded, replaced by `{ truncated: true, preview }`, the start of their JSON text.
 */
export function encodeErrorBody(error: EntenteError, codec: Codec): Uint8Array {
  const body = error.toBody();
  body.code = truncateText(body.code, MAX_CODE_CHARS);
  body.message = truncateText(body.message, MAX_ERROR_MESSAGE_CHARS);
  const whole = tryEncode(codec, { error: body });
  if (whole !== undefined && whole.length <= MAX_ERROR_BODY_BYTES) return whole;
  if (body.details !== undefined) {
    body.details = { truncated: true, preview: previewOf(body.details) };
  }
  return codec.encode({ error: body });
}

function tryEncode(codec: Codec, value: unknown): Uint8Array | undefined {
  try {
    return codec.encode(value);
  } catch {
    return undefined; // a cycle, a nesting too deep for the encoder, a value it cannot carry
  }
}

function previewOf(details: Record<string, unknown>): string {
  try {
    return truncateText(toJson(details), DETAILS_PREVIEW_CHARS);
  } catch {
    return "(details could not be encoded)";
  }
}
