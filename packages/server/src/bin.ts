#!/usr/bin/env node
import { buildProgram, main } from "@entente/client";
import { registerServeCommand } from "./serve.ts";

const program = buildProgram();
registerServeCommand(program);
await main(process.argv, program);
