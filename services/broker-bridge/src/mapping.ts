/**
 * Names and headers across NATS and AMQP. Subjects and routing keys are both dot-separated
 * words; NATS wildcards `*` / `>` correspond to AMQP's `*` / `#`. AMQP message properties travel
 * as `Amqp-*` headers so they can be restored on the way back. Pure.
 */
import { EntenteError } from "@entente/protocol";

/** Header name and value pairs, in order; a name may repeat. */
export type HeaderList = Array<[string, string]>;

/** A routing key as a NATS subject, under `prefix`. Keys that are not valid subjects are MALFORMED. */
export function routingKeyToSubject(routingKey: string, prefix?: string): string {
  if (routingKey === "") {
    if (prefix) return prefix;
    throw new EntenteError("MALFORMED", "an empty routing key has no subject: set subjectPrefix");
  }
  const words = routingKey.split(".");
  for (const word of words) {
    if (word === "" || /[\s*>]/.test(word)) {
      throw new EntenteError(
        "MALFORMED",
        `routing key ${JSON.stringify(routingKey)} is not a NATS subject (empty words, spaces, '*' or '>')`,
      );
    }
  }
  return prefix ? `${prefix}.${routingKey}` : routingKey;
}

/** A subject as a routing key: the same words. */
export function subjectToRoutingKey(subject: string, prefix?: string): string {
  return prefix && subject.startsWith(`${prefix}.`) ? subject.slice(prefix.length + 1) : subject;
}

/** A NATS subject filter as an AMQP binding key: `>` becomes `#`. */
export function subjectFilterToBindingKey(filter: string): string {
  return filter
    .split(".")
    .map((word) => (word === ">" ? "#" : word))
    .join(".");
}

/**
 * An AMQP binding key as a NATS subject filter: `#` becomes `>` where NATS can say it (last
 * word). `#` matches zero words while `>` needs one, so `a.#` also gets `a`.
 */
export function bindingKeyToSubjectFilters(binding: string): string[] {
  const words = binding.split(".");
  const hash = words.indexOf("#");
  if (hash === -1) return [binding];
  if (hash !== words.length - 1) {
    throw new EntenteError(
      "UNSUPPORTED",
      `binding key ${JSON.stringify(binding)}: NATS has no wildcard for '#' before the last word`,
    );
  }
  const head = words.slice(0, -1);
  return head.length === 0 ? [">"] : [[...head, ">"].join("."), head.join(".")];
}

/** AMQP basic properties carried as headers, by property name. */
const AMQP_PROPERTIES = {
  contentType: "Amqp-Content-Type",
  contentEncoding: "Amqp-Content-Encoding",
  correlationId: "Amqp-Correlation-Id",
  replyTo: "Amqp-Reply-To",
  expiration: "Amqp-Expiration",
  messageId: "Amqp-Message-Id",
  timestamp: "Amqp-Timestamp",
  type: "Amqp-Type",
  userId: "Amqp-User-Id",
  appId: "Amqp-App-Id",
  priority: "Amqp-Priority",
  deliveryMode: "Amqp-Delivery-Mode",
} as const;

type AmqpPropertyName = keyof typeof AMQP_PROPERTIES;
const PROPERTY_OF_HEADER = new Map(
  Object.entries(AMQP_PROPERTIES).map(([property, header]) => [header.toLowerCase(), property]),
);

/** AMQP properties and headers as NATS headers. Non-string header values become text. */
export function amqpToHeaders(
  properties: Partial<Record<AmqpPropertyName, unknown>> & { headers?: Record<string, unknown> },
): HeaderList {
  const out: HeaderList = [];
  for (const [name, value] of Object.entries(properties.headers ?? {})) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) out.push([name, headerText(item)]);
    } else {
      out.push([name, headerText(value)]);
    }
  }
  for (const [property, header] of Object.entries(AMQP_PROPERTIES)) {
    const value = properties[property as AmqpPropertyName];
    if (value !== undefined && value !== null) out.push([header, headerText(value)]);
  }
  return out;
}

export interface AmqpPublishProperties {
  headers: Record<string, string | string[]>;
  contentType?: string;
  contentEncoding?: string;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
  priority?: number;
  deliveryMode?: number;
}

/** NATS headers as AMQP publish properties: `Amqp-*` back into properties, the rest as headers. */
export function headersToAmqp(list: HeaderList): AmqpPublishProperties {
  const out: AmqpPublishProperties = { headers: {} };
  const properties = out as unknown as Record<string, unknown>;
  for (const [name, value] of list) {
    const property = PROPERTY_OF_HEADER.get(name.toLowerCase());
    if (property !== undefined) {
      const numeric =
        property === "timestamp" || property === "priority" || property === "deliveryMode";
      properties[property] = numeric ? Number(value) : value;
      continue;
    }
    const existing = out.headers[name];
    if (existing === undefined) out.headers[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out.headers[name] = [existing, value];
  }
  return out;
}

function headerText(value: unknown): string {
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  if (value instanceof Date) return String(Math.floor(value.getTime() / 1000));
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Headers reserved by JetStream on the way in (ids, expectations): never copied across. */
export function isReservedHeader(name: string): boolean {
  return name.length > 5 && name.slice(0, 5).toLowerCase() === "nats-";
}
