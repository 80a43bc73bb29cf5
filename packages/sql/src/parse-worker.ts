/**
 * A parse thread: says it has loaded, then parses each statement the pool sends and answers the
 * parsed statement (the AST travels back structured-cloned) or the error's body.
 */
import { parentPort } from "node:worker_threads";
import { toEntenteError } from "@entente/protocol";
import { parseSql } from "./parse.ts";
import type { ParseAnswer, ParseJob, ThreadMessage } from "./parse-pool.ts";

const port = parentPort;
if (!port) throw new Error("parse-worker runs as a worker thread of a ParsePool");

port.on("message", ({ sql, limits }: ParseJob) => {
  let answer: ParseAnswer;
  try {
    answer = { parsed: parseSql(sql, limits) };
  } catch (err) {
    answer = { error: toEntenteError(err).toBody() };
  }
  port.postMessage(answer);
});

// One parse before taking statements: the parser's code is compiled on first use, and the first
// statement should not wait for that.
parseSql("SELECT a, count(*) FROM t WHERE b = 1 AND c LIKE 'x%' GROUP BY a ORDER BY 1 LIMIT 1");
port.postMessage({ loaded: true } satisfies ThreadMessage);
