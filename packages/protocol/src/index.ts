export * from "./codec.ts";
export * from "./errors.ts";
export * from "./headers.ts";
export * from "./ids.ts";
export * from "./messages.ts";
export * from "./subjects.ts";
export * from "./validation.ts";
