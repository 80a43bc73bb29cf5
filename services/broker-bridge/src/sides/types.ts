/** What a link's session is made of: an upstream that delivers, a downstream that confirms. */
import type { HeaderList } from "../mapping.ts";

/** One message read from the upstream, acknowledged there only once the downstream confirmed. */
export interface InboundMessage {
  /** A NATS subject, or an AMQP routing key when `fromAmqp`. */
  readonly subject: string;
  readonly fromAmqp: boolean;
  readonly data: Uint8Array;
  /** Headers to carry across (reserved JetStream headers left out). */
  headers(): HeaderList;
  header(name: string): string | undefined;
  /** A stable id of this message at its origin, for the downstream's duplicate window. */
  readonly originId: string | undefined;
  /** When the message entered the upstream buffer (ms since the epoch). */
  readonly timestampMs: number;
  /** Done with it: confirmed downstream, or deliberately not forwarded. */
  ack(): void;
  /** Deliver it again later (the downstream did not confirm). */
  retry(): void;
  /** Never deliver it again (malformed, oversized): dead-lettered where the upstream can. */
  reject(reason: string): void;
}

export interface SideEvents {
  down(reason: string): void;
  up(): void;
  /** The side cannot go on (channel closed, consumer gone): the session is restarted. */
  failed(reason: string): void;
}

export interface UpstreamSide {
  readonly brokerId: string;
  /** Starts delivering; at most `prefetch` messages are unacknowledged at a time. */
  start(deliver: (message: InboundMessage) => void, events: SideEvents): Promise<void>;
  /** Stops taking new messages (e.g. the downstream is away); held ones are redelivered later. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Messages waiting in the buffer plus those delivered and not yet acknowledged. */
  lag(): Promise<number>;
  close(): Promise<void>;
}

export interface OutboundMessage {
  subject: string;
  data: Uint8Array;
  headers: HeaderList;
  msgId: string | undefined;
}

export type SendDone = (error?: Error, duplicate?: boolean) => void;

export interface DownstreamSide {
  readonly brokerId: string;
  /** Largest body the downstream accepts. */
  readonly maxPayload: number;
  /** Reports the downstream going away and coming back (connection, resource alarms). */
  watch(events: SideEvents): void;
  /**
   * Sends one message; `done` is called once, when the downstream confirmed it or gave up.
   * `duplicate` says the downstream already had it (JetStream's duplicate window).
   */
  send(message: OutboundMessage, done: SendDone): void;
  close(): Promise<void>;
}
