/**
 * One region's worker as its own process, the way an operator runs it: the region router and the
 * SQL join, configured by the file in ENTENTE_CONFIG.
 */
import { regionRouterService } from "@entente/region-router";
import { runWorkerProcess } from "@entente/runtime";
import { sqlJoinService } from "@entente/sql-join";

await runWorkerProcess({ services: [regionRouterService, sqlJoinService] });
