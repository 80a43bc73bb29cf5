/** A bridge worker as its own process, as `entente serve broker-bridge --config FILE` runs it. */
import { runWorkerProcess } from "@entente/runtime";
import { brokerBridgeService } from "../src/index.ts";

const configFile = process.argv[2];
if (configFile === undefined) throw new Error("usage: worker-process.ts <config file>");
await runWorkerProcess({ services: [brokerBridgeService], configFile });
