/**
 * The SQL join service as its own process, the way an operator runs it; configured by the file
 * in ENTENTE_CONFIG.
 */
import { runWorkerProcess } from "@entente/runtime";
import { sqlJoinService } from "@entente/sql-join";

await runWorkerProcess({ services: [sqlJoinService] });
