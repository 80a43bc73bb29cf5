/**
 * What a link's broker URLs must look like, checked when a definition is added so a mistake is
 * answered at once instead of becoming a link that fails to connect for ever. Pure: each check
 * returns what is wrong, or undefined.
 */

const NATS_SCHEMES = new Set(["nats:", "tls:"]);
const AMQP_SCHEMES = new Set(["amqp:", "amqps:"]);

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** A server URL without a scheme is how the NATS client reads `host:port`. */
function parseNatsServer(server: string): URL | undefined {
  return parseUrl(server.includes("://") ? server : `nats://${server}`);
}

/** The port, when one is given, is a TCP port: URL parsing accepts 0 and rejects above 65535. */
function badPort(url: URL): boolean {
  return url.port !== "" && Number(url.port) === 0;
}

/** `nats://host:port` or `tls://host:port`, several separated by commas for a cluster. */
export function natsUrlProblem(value: string): string | undefined {
  if (value.trim() === "") return "give the server URL, e.g. nats://127.0.0.1:4222";
  const servers = value.split(",").map((s) => s.trim());
  for (const server of servers) {
    const shown = JSON.stringify(server);
    if (server === "") return "an empty server in the list (two commas, or one at an end)";
    const url = parseNatsServer(server);
    if (url === undefined || url.hostname === "") {
      return `${shown} is not a server URL: use nats://host:port or tls://host:port`;
    }
    if (!NATS_SCHEMES.has(url.protocol)) {
      return `${shown}: the scheme must be nats:// or tls://, not ${url.protocol}//`;
    }
    if (badPort(url)) return `${shown}: port 0 is no port to connect to`;
    if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
      return `${shown}: a NATS server URL has no path, query or fragment`;
    }
  }
  return undefined;
}

/** `amqp://user:pass@host:port/vhost` or `amqps://…`; the vhost is one (percent-encoded) segment. */
export function amqpUrlProblem(value: string): string | undefined {
  const shown = JSON.stringify(value);
  const url = parseUrl(value);
  if (url === undefined || !AMQP_SCHEMES.has(url.protocol)) {
    return "an AMQP URL starts with amqp:// or amqps://";
  }
  if (url.hostname === "") return `${shown} names no host`;
  if (badPort(url)) return `${shown}: port 0 is no port to connect to`;
  if (url.pathname.slice(1).includes("/")) {
    return `${shown}: the path is the vhost, one segment (write '/' inside it as %2F)`;
  }
  if (url.hash !== "") return `${shown}: an AMQP URL has no fragment`;
  return undefined;
}
