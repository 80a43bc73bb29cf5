/**
 * The GraphQL service against pages of other sites and costly documents, over real NATS with
 * the real sql-join service on the embedded default's demo data, and a tiers service that fails
 * as a bug would: no answer is readable across origins, nothing but JSON is taken as a POST
 * body, a request for another host name is refused, documents with too many fields or costly
 * fields are refused before they run, and an internal error tells nothing of its insides.
 */
import { request as httpRequest } from "node:http";
import { SUBJECTS } from "@entente/protocol";
import { loadConfig, type ServiceDefinition, startWorker, type Worker } from "@entente/runtime";
import { sqlJoinService } from "@entente/sql-join";
import { freePort, type NatsServer, startNatsServer } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphqlService, INTERNAL_MESSAGE } from "../src/index.ts";
import { codeOf, type GraphqlAnswer, graphql } from "./helpers.ts";

const SECRET = "ENOENT: no such file /var/lib/entente/secret-cold-store/manifest.json";

/** A tiers service whose every answer fails as an unforeseen bug does. */
const brokenTiers: ServiceDefinition = {
  name: "tiers",
  version: "0.0.0",
  description: "fails every request with an error naming a file",
  start: () => ({
    endpoints: [
      {
        name: "tiers",
        subject: SUBJECTS.tiers,
        handler: () => {
          throw Object.assign(new Error(SECRET), { stack: `Error: ${SECRET}\n    at /srv/x.js:1` });
        },
      },
    ],
  }),
};

let nats: NatsServer;
let worker: Worker;
let port: number;
let url: string;

beforeAll(async () => {
  nats = await startNatsServer();
  port = await freePort();
  const yaml = `
nats: { servers: ["${nats.url}"] }
graphql: { port: ${port}, corsOrigins: ["https://grafana.example"] }
`;
  worker = await startWorker({
    services: [sqlJoinService, graphqlService, brokenTiers],
    config: loadConfig({ text: yaml, env: {} }),
  });
  url = `http://127.0.0.1:${port}/graphql`;
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await nats?.stop();
});

async function answerOf(response: Response): Promise<GraphqlAnswer> {
  return { status: response.status, ...((await response.json()) as Omit<GraphqlAnswer, "status">) };
}

const MUTATION = 'mutation { expireSnapshots(table: "orders", olderThanMs: 0) { table } }';

describe("other origins", () => {
  it("get no CORS headers, on GET, POST or a preflight", async () => {
    const origin = { origin: "https://evil.example" };
    const get = await fetch(`${url}?query=${encodeURIComponent("{ tables { name } }")}`, {
      headers: origin,
    });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBeNull();
    expect(get.headers.get("access-control-allow-credentials")).toBeNull();
    const post = await fetch(url, {
      method: "POST",
      headers: { ...origin, "content-type": "application/json" },
      body: JSON.stringify({ query: "{ tables { name } }" }),
    });
    expect(post.status).toBe(200);
    expect(post.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await fetch(url, {
      method: "OPTIONS",
      headers: {
        ...origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(preflight.headers.get("access-control-allow-methods")).toBeNull();
    // A browser's GET for another site's page (an image, say) runs nothing.
    const img = await fetch(
      `${url}?query=${encodeURIComponent('{ query(sql: "SELECT 1") { rowCount } }')}`,
      {
        headers: { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" },
      },
    );
    expect(img.status).toBe(403);
    expect(img.headers.get("access-control-allow-origin")).toBeNull();
    const sameOrigin = await fetch(`${url}?query=${encodeURIComponent("{ __typename }")}`, {
      headers: { "sec-fetch-site": "same-origin" },
    });
    expect(sameOrigin.status).toBe(200);
  });

  it("but those of graphql.corsOrigins may read answers, without credentials", async () => {
    const origin = "https://grafana.example";
    const preflight = await fetch(url, {
      method: "OPTIONS",
      headers: {
        origin,
        "sec-fetch-site": "cross-site",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("content-length")).toBeNull();
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/content-type/);
    expect(preflight.headers.get("access-control-allow-credentials")).toBeNull();
    const post = await fetch(url, {
      method: "POST",
      headers: { origin, "sec-fetch-site": "cross-site", "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(post.headers.get("access-control-allow-origin")).toBe(origin);
    expect(post.headers.get("vary")).toMatch(/Origin/);
    expect(await post.json()).toEqual({ data: { __typename: "Query" } });
  });

  it("cannot run a mutation with a form, multipart or text body", async () => {
    const bodies: Array<[string | undefined, string | FormData]> = [
      ["application/x-www-form-urlencoded", `query=${encodeURIComponent(MUTATION)}`],
      ["text/plain", JSON.stringify({ query: MUTATION })],
      [undefined, JSON.stringify({ query: MUTATION })],
    ];
    const form = new FormData();
    form.set("operations", JSON.stringify({ query: MUTATION }));
    form.set("map", "{}");
    bodies.push([undefined, form]);
    for (const [type, body] of bodies) {
      const response = await fetch(url, {
        method: "POST",
        headers: { origin: "https://evil.example", ...(type ? { "content-type": type } : {}) },
        body,
      });
      const answer = await answerOf(response);
      expect(answer.status).toBe(415);
      expect(codeOf(answer)).toBe("BAD_REQUEST");
      expect(answer.errors?.[0]?.message).toMatch(/application\/json/);
    }
    // A mutation over GET is refused too.
    const get = await fetch(`${url}?query=${encodeURIComponent(MUTATION)}`);
    expect(get.status).toBe(405);
    // JSON, however its type is spelled, is taken.
    for (const type of ["application/json", "Application/JSON; charset=utf-8"]) {
      const ok = await fetch(url, {
        method: "POST",
        headers: { "content-type": type },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
      expect(await ok.json()).toEqual({ data: { __typename: "Query" } });
    }
  });

  it("cannot reach it under another host name (DNS rebinding)", async () => {
    const request = (host: string, path = "/graphql") =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          { host: "127.0.0.1", port, path, method: "GET", headers: { host } },
          (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => {
              body += chunk;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end();
      });
    const query = `/graphql?query=${encodeURIComponent("{ __typename }")}`;
    const rebound = await request(`evil.example:${port}`, query);
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body).errors[0].extensions.code).toBe("BAD_REQUEST");
    expect((await request(`localhost:${port}`, query)).status).toBe(200);
    expect((await request(`127.0.0.1:${port}`, query)).status).toBe(200);
    expect((await request("127.0.0.1", query)).status).toBe(421);
    // The health check answers probes by whatever name.
    expect((await request("10.1.2.3:9999", "/health")).status).toBe(200);
  });
});

describe("costly documents", () => {
  it("refuses a document with more fields than graphql.maxFields before validating it", async () => {
    const answer = await graphql(url, `{ ${"tables { name } ".repeat(2400)} }`);
    expect(codeOf(answer)).toBe("BAD_REQUEST");
    expect(answer.errors?.[0]?.message).toMatch(/4800 fields; at most 500/);
    expect(answer.data).toBeUndefined();
  });

  it("runs at most graphql.maxCostlyFields costly fields, aliases counted", async () => {
    const stats = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `s${i}: tableStats(table: "users") { rowCount }`).join(" ")} }`;
    const ten = await graphql<Record<string, { rowCount: number }>>(url, stats(10));
    expect(ten.errors).toBeUndefined();
    expect(Object.keys(ten.data ?? {})).toHaveLength(10);
    const eleven = await graphql(url, stats(11));
    expect(codeOf(eleven)).toBe("BAD_REQUEST");
    expect(eleven.errors?.[0]?.message).toMatch(/11 costly fields.*at most 10/);
    const queries = await graphql(
      url,
      `{ ${Array.from({ length: 700 }, (_, i) => `q${i}: query(sql: "SELECT 1") { rowCount }`).join(" ")} }`,
    );
    expect(codeOf(queries)).toBe("BAD_REQUEST");
    const mutations = await graphql(
      url,
      `mutation { ${Array.from({ length: 11 }, (_, i) => `m${i}: compact(table: "orders") { table }`).join(" ")} }`,
    );
    expect(codeOf(mutations)).toBe("BAD_REQUEST");
    expect(mutations.errors?.[0]?.message).toMatch(/maxCostlyFields/);
  });
});

describe("errors", () => {
  it("tells nothing of an internal error but that it happened", async () => {
    const answer = await graphql(url, "{ materialized { id } }");
    expect(codeOf(answer)).toBe("INTERNAL");
    expect(answer.errors?.[0]?.message).toBe(INTERNAL_MESSAGE);
    const text = JSON.stringify(answer);
    expect(text).not.toMatch(/secret|var\/lib|srv\/x/);
    expect(answer.errors?.[0]?.extensions).not.toHaveProperty("details");
    // Client-facing codes keep their messages.
    const missing = await graphql(url, '{ tableStats(table: "no_such_table") { rowCount } }');
    expect(codeOf(missing)).toBe("NOT_FOUND");
    expect(missing.errors?.[0]?.message).toMatch(/no_such_table/);
  });
});
