import { describe, expect, it } from "vitest";
import {
  dockerStatus,
  mariadb,
  natsServer,
  postgres,
  rabbitmq,
  ServiceUnavailableError,
} from "../src/index.ts";

// A machine with nothing: no URLs, no binaries, no Docker.
const nothing = { env: {}, path: "", docker: false };

describe("with no service available", () => {
  it.each([
    ["NATS", () => natsServer({ discovery: nothing }), "ENTENTE_TEST_NATS_URL", /nats-server/],
    ["PostgreSQL", () => postgres({ discovery: nothing }), "ENTENTE_TEST_POSTGRES_URL", /initdb/],
    ["MariaDB", () => mariadb({ discovery: nothing }), "ENTENTE_TEST_MARIADB_URL", /mariadbd/],
    [
      "RabbitMQ",
      () => rabbitmq({ discovery: nothing }),
      "ENTENTE_TEST_RABBITMQ_URL",
      /rabbitmq-server/,
    ],
  ])(
    "%s fails with a message that says what to set or install",
    async (_, start, envVar, binary) => {
      const failure = await start().catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ServiceUnavailableError);
      const message = (failure as Error).message;
      expect(message).toContain(`set ${envVar} to a running server, e.g. ${envVar}=`);
      expect(message).toMatch(new RegExp(`install .*${binary.source}`));
      expect(message).toContain("install and start Docker");
      expect(message).toMatch(/1\. .* is not set\n {2}2\. local server binary: .*not found/);
    },
  );

  it("reports an unreachable Docker engine as unavailable", async () => {
    const status = await dockerStatus({ DOCKER_HOST: "unix:///nonexistent/docker.sock" });
    expect(status.available).toBe(false);
    expect(status.detail).toContain("/nonexistent/docker.sock");
  });
});
