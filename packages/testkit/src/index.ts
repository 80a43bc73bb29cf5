export type { ContainerSpec, RunningContainer } from "./containers.ts";
export { startContainer } from "./containers.ts";
export { type DelayProxy, type DelayProxyOptions, startDelayProxy } from "./delay-proxy.ts";
export type {
  Discovery,
  DiscoveryOptions,
  ServiceInfo,
  ServiceStarters,
  Unavailable,
} from "./discovery.ts";
export {
  discoverService,
  discovery,
  ServiceUnavailableError,
  unavailable,
} from "./discovery.ts";
export type { DockerStatus } from "./docker.ts";
export { dockerStatus } from "./docker.ts";
export { freePort, isAddressInUse, withFreePort } from "./free-port.ts";
export type { LineListener } from "./log-buffer.ts";
export { LogBuffer } from "./log-buffer.ts";
export type { MariaDbOptions, MariaDbService } from "./mariadb.ts";
export { MARIADB_SERVICE, mariadb } from "./mariadb.ts";
export type {
  MetricSample,
  MetricSeries,
  MetricsDataOptions,
  MetricsLayout,
} from "./metrics-data.ts";
export { generateMetrics, metricsLayout, shardSeries, toOpenMetrics } from "./metrics-data.ts";
export type { NatsService, NatsServiceOptions } from "./nats.ts";
export { NATS_SERVICE, natsServer } from "./nats.ts";
export type { NatsServer, StartNatsServerOptions } from "./nats-server.ts";
export { findNatsServerBinary, startNatsServer } from "./nats-server.ts";
export { decodeTraceRequestProto } from "./otlp-proto.ts";
export type {
  OtlpReceiver,
  OtlpReceiverOptions,
  WaitForSpansOptions,
} from "./otlp-receiver.ts";
export { startOtlpReceiver } from "./otlp-receiver.ts";
export type {
  Attributes,
  AttributeValue,
  OtlpEncoding,
  ReceivedSpan,
  ReceivedSpanEvent,
  ReceivedSpanLink,
  SpanKindName,
  StatusCodeName,
} from "./otlp-spans.ts";
export { spansFromRequest } from "./otlp-spans.ts";
export { pingAnswers } from "./ping.ts";
export type { PostgresOptions, PostgresService } from "./postgres.ts";
export { POSTGRES_SERVICE, postgres, postgresInstallDirs } from "./postgres.ts";
export type { ExitStatus, ManagedProcess, RunOptions, StartProcessOptions } from "./process.ts";
export { ProcessStartError, runCommand, startProcess } from "./process.ts";
export type {
  PrometheusResponse,
  PrometheusServer,
  StartPrometheusOptions,
} from "./prometheus.ts";
export {
  findPrometheusBinaries,
  PROMETHEUS_BIN_ENV,
  PROMETHEUS_INSTALL_HINT,
  PROMTOOL_BIN_ENV,
  queryPrometheus,
  startPrometheus,
} from "./prometheus.ts";
export type { RabbitMqOptions, RabbitMqService } from "./rabbitmq.ts";
export { RABBITMQ_MANAGEMENT_ENV, RABBITMQ_SERVICE, rabbitmq } from "./rabbitmq.ts";
export { seededRandom } from "./random.ts";
export type { ServiceHandle, ServiceSource } from "./service.ts";
export type { CertificatePair, MakeCertificatesOptions, TestCertificates } from "./tls.ts";
export { makeTestCertificates } from "./tls.ts";
export { uniqueName } from "./unique-name.ts";
export { eventually, waitFor } from "./wait.ts";
