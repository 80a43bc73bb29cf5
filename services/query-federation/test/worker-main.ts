/** A worker process serving only query federation: `node worker-main.ts <config file>`. */
import { runWorkerProcess } from "@entente/runtime";
import { queryFederationService } from "../src/index.ts";

await runWorkerProcess({ services: [queryFederationService], configFile: process.argv[2] });
