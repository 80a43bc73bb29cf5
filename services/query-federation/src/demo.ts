/**
 * Demo metrics for the embedded default: a day of one-minute samples ending now, the same
 * values for the same hosts and minutes on every run. `cpu_usage` is a gauge with a daily
 * cycle; `http_requests_total` a counter that restarts every six hours.
 */
import type { Point } from "./points.ts";

const MINUTE = 60_000_000_000n;
const DAY_MINUTES = 1440;

export interface DemoHost {
  host: string;
  region: string;
}

export const DEMO_LAYOUT: Record<string, DemoHost[]> = {
  "edge-a": [
    { host: "a-1", region: "us-west" },
    { host: "a-2", region: "us-west" },
  ],
  "edge-b": [
    { host: "b-1", region: "eu-west" },
    { host: "b-2", region: "eu-west" },
  ],
};

/** A stable pseudo-random number in [0, 1) for a host and minute. */
function noise(seed: string, minute: bigint): number {
  let h = 2166136261;
  const text = `${seed}:${minute}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return ((h >>> 0) % 10_000) / 10_000;
}

export function demoPoints(hosts: DemoHost[], endNs: bigint): Point[] {
  const end = endNs - (endNs % MINUTE);
  const points: Point[] = [];
  for (const { host, region } of hosts) {
    const tags = { host, region };
    let counter = 0;
    for (let i = DAY_MINUTES - 1; i >= 0; i--) {
      const ts = end - BigInt(i) * MINUTE;
      const minuteOfEpoch = ts / MINUTE;
      const phase = (Number(minuteOfEpoch % 1440n) / 1440) * 2 * Math.PI;
      const cpu = 50 + 30 * Math.sin(phase) + 10 * noise(host, minuteOfEpoch);
      points.push({
        metric: "cpu_usage",
        tags,
        timestamp: ts,
        value: Math.round(cpu * 100) / 100,
      });
      if (minuteOfEpoch % 360n === 0n) counter = 0;
      counter += 100 + Math.floor(50 * noise(`${host}/req`, minuteOfEpoch));
      points.push({ metric: "http_requests_total", tags, timestamp: ts, value: counter });
    }
  }
  return points;
}
