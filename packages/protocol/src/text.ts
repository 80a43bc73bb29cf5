/**
 * A prefix of `text` of at most `maxChars` characters, marked when something was cut, so an
 * error can quote the input it refuses without carrying all of it.
 */
export function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let end = Math.max(0, maxChars);
  // Never split a surrogate pair: half a character is not valid text.
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return `${text.slice(0, end)}… (${text.length - end} more characters)`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
