import { parse, type Type } from "protobufjs";

/**
 * The messages of an OTLP trace export, copied from open-telemetry/opentelemetry-proto
 * (collector/trace/v1/trace_service.proto, trace/v1/trace.proto, resource/v1/resource.proto,
 * common/v1/common.proto) into one package: the wire format carries only field numbers, which
 * must match upstream exactly. Fields not declared here are skipped, so newer senders decode.
 */
const OTLP_TRACE_PROTO = `
syntax = "proto3";

package opentelemetry.proto;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}

message ArrayValue {
  repeated AnyValue values = 1;
}

message KeyValueList {
  repeated KeyValue values = 1;
}

message KeyValue {
  string key = 1;
  AnyValue value = 2;
}

message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}

message Resource {
  repeated KeyValue attributes = 1;
  uint32 dropped_attributes_count = 2;
}

message ExportTraceServiceRequest {
  repeated ResourceSpans resource_spans = 1;
}

message ExportTraceServiceResponse {
}

message ResourceSpans {
  Resource resource = 1;
  repeated ScopeSpans scope_spans = 2;
  string schema_url = 3;
}

message ScopeSpans {
  InstrumentationScope scope = 1;
  repeated Span spans = 2;
  string schema_url = 3;
}

message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  SpanKind kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  repeated Link links = 13;
  uint32 dropped_links_count = 14;
  Status status = 15;

  enum SpanKind {
    SPAN_KIND_UNSPECIFIED = 0;
    SPAN_KIND_INTERNAL = 1;
    SPAN_KIND_SERVER = 2;
    SPAN_KIND_CLIENT = 3;
    SPAN_KIND_PRODUCER = 4;
    SPAN_KIND_CONSUMER = 5;
  }

  message Event {
    fixed64 time_unix_nano = 1;
    string name = 2;
    repeated KeyValue attributes = 3;
    uint32 dropped_attributes_count = 4;
  }

  message Link {
    bytes trace_id = 1;
    bytes span_id = 2;
    string trace_state = 3;
    repeated KeyValue attributes = 4;
    uint32 dropped_attributes_count = 5;
    fixed32 flags = 6;
  }
}

message Status {
  reserved 1;
  string message = 2;
  StatusCode code = 3;

  enum StatusCode {
    STATUS_CODE_UNSET = 0;
    STATUS_CODE_OK = 1;
    STATUS_CODE_ERROR = 2;
  }
}
`;

let requestType: Type | undefined;

/**
 * Decodes a protobuf ExportTraceServiceRequest into a plain object shaped like OTLP/JSON
 * (lowerCamelCase keys, enums as numbers) except that ids and bytes stay binary and 64-bit
 * integers are bigints.
 */
export function decodeTraceRequestProto(body: Uint8Array): unknown {
  requestType ??= parse(OTLP_TRACE_PROTO).root.lookupType(
    "opentelemetry.proto.ExportTraceServiceRequest",
  );
  return requestType.toObject(requestType.decode(body), { longs: BigInt, arrays: true });
}
