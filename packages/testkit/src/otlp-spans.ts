/** A value of an OTLP attribute (AnyValue), in plain JavaScript. */
export type AttributeValue =
  | string
  | number
  | boolean
  | bigint
  | Uint8Array
  | null
  | AttributeValue[]
  | { [key: string]: AttributeValue };

export type Attributes = Record<string, AttributeValue>;

export type SpanKindName =
  | "UNSPECIFIED"
  | "INTERNAL"
  | "SERVER"
  | "CLIENT"
  | "PRODUCER"
  | "CONSUMER";
export type StatusCodeName = "UNSET" | "OK" | "ERROR";

export interface ReceivedSpanEvent {
  name: string;
  timeUnixNano: bigint;
  attributes: Attributes;
}

export interface ReceivedSpanLink {
  traceId: string;
  spanId: string;
  traceState?: string;
  attributes: Attributes;
}

/** One span as an OTLP receiver got it, the same whichever encoding it came in. */
export interface ReceivedSpan {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits. */
  spanId: string;
  /** Undefined for a root span. */
  parentSpanId?: string;
  traceState?: string;
  flags?: number;
  name: string;
  /** OTLP numbering, which is the API's SpanKind + 1: 1 internal, 2 server, 3 client, ... */
  kind: number;
  kindName: SpanKindName;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: ReceivedSpanEvent[];
  links: ReceivedSpanLink[];
  status: { code: number; codeName: StatusCodeName; message?: string };
  /** Resource attributes, e.g. `service.name`. */
  resource: Attributes;
  scope: { name: string; version?: string; attributes: Attributes };
}

const KIND_NAMES: readonly SpanKindName[] = [
  "UNSPECIFIED",
  "INTERNAL",
  "SERVER",
  "CLIENT",
  "PRODUCER",
  "CONSUMER",
];
const STATUS_NAMES: readonly StatusCodeName[] = ["UNSET", "OK", "ERROR"];

/** How ids and bytes are written: binary from protobuf; hex ids and base64 bytes in JSON. */
export type OtlpEncoding = "protobuf" | "json";

type Obj = Record<string, unknown>;

/**
 * Flattens a decoded ExportTraceServiceRequest (protobuf via otlp-proto.ts, or OTLP/JSON) into
 * spans. Lenient on purpose: enums may be numbers or names, 64-bit integers numbers or strings,
 * and keys lowerCamelCase or the proto's snake_case.
 */
export function spansFromRequest(request: unknown, encoding: OtlpEncoding): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of list(field(request, "resourceSpans", "resource_spans"))) {
    const resource = attributes(field(field(resourceSpans, "resource"), "attributes"), encoding);
    for (const scopeSpans of list(field(resourceSpans, "scopeSpans", "scope_spans"))) {
      const scopeObj = field(scopeSpans, "scope");
      const scope = {
        name: str(field(scopeObj, "name")) ?? "",
        ...optional("version", str(field(scopeObj, "version"))),
        attributes: attributes(field(scopeObj, "attributes"), encoding),
      };
      for (const span of list(field(scopeSpans, "spans"))) {
        spans.push(toSpan(span, resource, scope, encoding));
      }
    }
  }
  return spans;
}

function toSpan(
  span: unknown,
  resource: Attributes,
  scope: ReceivedSpan["scope"],
  encoding: OtlpEncoding,
): ReceivedSpan {
  const kind = enumValue(field(span, "kind"), "SPAN_KIND_", KIND_NAMES);
  const status = field(span, "status");
  const code = enumValue(field(status, "code"), "STATUS_CODE_", STATUS_NAMES);
  const parentSpanId = id(field(span, "parentSpanId", "parent_span_id"), encoding);
  const flags = field(span, "flags");
  return {
    traceId: id(field(span, "traceId", "trace_id"), encoding) ?? "",
    spanId: id(field(span, "spanId", "span_id"), encoding) ?? "",
    ...optional("parentSpanId", parentSpanId),
    ...optional("traceState", str(field(span, "traceState", "trace_state"))),
    ...optional("flags", flags === undefined ? undefined : Number(flags)),
    name: str(field(span, "name")) ?? "",
    kind,
    kindName: KIND_NAMES[kind] ?? "UNSPECIFIED",
    startTimeUnixNano: int64(field(span, "startTimeUnixNano", "start_time_unix_nano")),
    endTimeUnixNano: int64(field(span, "endTimeUnixNano", "end_time_unix_nano")),
    attributes: attributes(field(span, "attributes"), encoding),
    events: list(field(span, "events")).map((event) => ({
      name: str(field(event, "name")) ?? "",
      timeUnixNano: int64(field(event, "timeUnixNano", "time_unix_nano")),
      attributes: attributes(field(event, "attributes"), encoding),
    })),
    links: list(field(span, "links")).map((link) => ({
      traceId: id(field(link, "traceId", "trace_id"), encoding) ?? "",
      spanId: id(field(link, "spanId", "span_id"), encoding) ?? "",
      ...optional("traceState", str(field(link, "traceState", "trace_state"))),
      attributes: attributes(field(link, "attributes"), encoding),
    })),
    status: {
      code,
      codeName: STATUS_NAMES[code] ?? "UNSET",
      ...optional("message", str(field(status, "message"))),
    },
    resource,
    scope,
  };
}

function attributes(value: unknown, encoding: OtlpEncoding): Attributes {
  const result: Attributes = {};
  for (const kv of list(value)) {
    const key = str(field(kv, "key"));
    if (key !== undefined) result[key] = anyValue(field(kv, "value"), encoding);
  }
  return result;
}

function anyValue(value: unknown, encoding: OtlpEncoding): AttributeValue {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Obj;
  const string = field(v, "stringValue", "string_value");
  if (string !== undefined) return String(string);
  const bool = field(v, "boolValue", "bool_value");
  if (bool !== undefined) return bool === true || bool === "true";
  const int = field(v, "intValue", "int_value");
  if (int !== undefined) {
    const big = int64(int);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(big)
      : big;
  }
  const double = field(v, "doubleValue", "double_value");
  if (double !== undefined) return Number(double);
  const array = field(v, "arrayValue", "array_value");
  if (array !== undefined)
    return list(field(array, "values")).map((item) => anyValue(item, encoding));
  const kvlist = field(v, "kvlistValue", "kvlist_value");
  if (kvlist !== undefined) return attributes(field(kvlist, "values"), encoding);
  const bytes = field(v, "bytesValue", "bytes_value");
  if (bytes !== undefined) return binary(bytes, encoding === "json" ? "base64" : "binary");
  return null;
}

/** Trace and span ids are hex in OTLP/JSON (not base64 as plain proto3 JSON would have them). */
function id(value: unknown, encoding: OtlpEncoding): string | undefined {
  if (value === undefined || value === null) return undefined;
  const hex =
    encoding === "json" && typeof value === "string"
      ? value.toLowerCase()
      : Buffer.from(binary(value, "binary")).toString("hex");
  return hex === "" || /^0+$/.test(hex) ? undefined : hex;
}

function binary(value: unknown, stringEncoding: "base64" | "binary"): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (typeof value === "string") {
    return new Uint8Array(Buffer.from(value, stringEncoding === "base64" ? "base64" : "hex"));
  }
  if (Array.isArray(value)) return Uint8Array.from(value as number[]);
  return new Uint8Array();
}

function int64(value: unknown): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return BigInt(Math.trunc(value));
  if (typeof value === "string" && value !== "") return BigInt(value);
  // protobufjs Long, should a caller decode without `longs: BigInt`.
  if (typeof value === "object" && value !== null) return BigInt(String(value));
  return 0n;
}

function enumValue(value: unknown, prefix: string, names: readonly string[]): number {
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    const index = names.indexOf(value.replace(prefix, ""));
    return index >= 0 ? index : Number(value) || 0;
  }
  return 0;
}

function field(value: unknown, ...keys: string[]): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  for (const key of keys) {
    const found = (value as Obj)[key];
    if (found !== undefined && found !== null) return found;
  }
  return undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** `{ [key]: value }` if value is defined, else `{}`: optional fields stay absent, not undefined. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
