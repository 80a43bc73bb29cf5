/** A sagas worker as its own process, as `entente serve sagas --config FILE` runs it. */
import { runWorkerProcess } from "@entente/runtime";
import { sagasService } from "../src/index.ts";

const configFile = process.argv[2];
if (configFile === undefined) throw new Error("usage: worker-process.ts <config file>");
await runWorkerProcess({ services: [sagasService], configFile });
