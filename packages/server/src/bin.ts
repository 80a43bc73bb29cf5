#!/usr/bin/env node
import { buildProgram, main } from "@entente/client";
import { registerDemoCommand } from "./demo.ts";
import { registerServeCommand } from "./serve.ts";

const program = buildProgram();
registerServeCommand(program);
registerDemoCommand(program);
await main(process.argv, program);
