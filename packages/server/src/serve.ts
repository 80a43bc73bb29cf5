/** `entente serve <service>`: runs services as a worker process until SIGTERM or SIGINT. */
import { runWorkerProcess } from "@entente/runtime";
import type { Command } from "commander";
import { knownServiceSections, loadServices, serviceNames } from "./services.ts";

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description(`run a service as a worker: ${[...serviceNames(), "all"].join(", ")}`)
    .argument("<service>", "service name, or 'all' for every service in one process")
    .action(async (service: string, _options, command: Command) => {
      const { config } = command.optsWithGlobals<{ config?: string }>();
      await runWorkerProcess({
        services: await loadServices(service),
        configFile: config,
        // Sections of services other workers run from the same file are accepted; typos are not.
        knownSections: knownServiceSections(),
      });
    });
}
