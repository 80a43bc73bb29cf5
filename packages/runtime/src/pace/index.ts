/** Pacing of CPU-bound loops, free of NATS: the SQL engine imports it as `@entente/runtime/pace`. */
export * from "./paced-sort.ts";
export * from "./pacer.ts";
