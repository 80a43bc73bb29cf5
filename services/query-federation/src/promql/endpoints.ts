/**
 * The PromQL front doors over NATS: `<promql>` (instant and range queries), and beside it
 * `.series`, `.labels` and `.values` for the series, label names and label values of what the
 * instances hold. The Prometheus HTTP API enters these same endpoints.
 */

import type { LabelMatcher } from "@entente/promql";
import {
  type PromqlLabelsAnswer,
  type PromqlSeriesAnswer,
  promqlLabelsRequestSchema,
  promqlLabelsSubject,
  promqlRequestSchema,
  promqlSeriesRequestSchema,
  promqlSeriesSubject,
  promqlValuesSubject,
  TAG_NAME,
} from "@entente/protocol";
import { type Deadline, type EndpointDefinition, endpoint, streamOf } from "@entente/runtime";
import type { Federator } from "../federator.ts";
import { promqlItems } from "./answer.ts";
import { badData } from "./bad-data.ts";
import { normalizePromql, parseQuery } from "./request.ts";
import { parsePromTime } from "./time.ts";

/** Series, labels and values look this far back when no start is given. */
export const DEFAULT_LABELS_RANGE_MS = 60 * 60_000;

export function promqlEndpoints(federator: Federator, subject: string): EndpointDefinition[] {
  return [
    endpoint({
      name: "promql",
      subject,
      schema: promqlRequestSchema,
      description: "A PromQL query over the instances: Prometheus' result shapes, partial answers",
      handler: async (request, context) => {
        const query = normalizePromql(request);
        const answer = await federator.promql(query, {
          signal: context.signal,
          deadline: context.deadline,
        });
        const items = promqlItems(answer.value, answer.partial);
        return items.length === 1 ? items[0] : streamOf(items);
      },
    }),
    endpoint({
      name: "promql-series",
      subject: promqlSeriesSubject(subject),
      schema: promqlSeriesRequestSchema,
      description: "Label sets of the series matching any of the selectors",
      handler: async (request, context): Promise<PromqlSeriesAnswer> => {
        const { start, end } = rangeOf(request);
        const selectors = request.match.map(selectorMatchers);
        const found = await federator.seriesLabels(selectors, start, end, {
          signal: context.signal,
          deadline: context.deadline,
        });
        return {
          series: found.series.map((labels) => ({ ...labels })),
          ...(found.warnings.length > 0 ? { warnings: found.warnings } : {}),
        };
      },
    }),
    endpoint({
      name: "promql-labels",
      subject: promqlLabelsSubject(subject),
      schema: promqlLabelsRequestSchema,
      description: "Label names of the series matching the selectors (all series without)",
      handler: async (request, context): Promise<PromqlLabelsAnswer> => {
        const found = await seriesFor(federator, request, context);
        const names = new Set<string>();
        for (const labels of found.series) for (const name of Object.keys(labels)) names.add(name);
        return withWarnings([...names].sort(), found.warnings);
      },
    }),
    endpoint({
      name: "promql-values",
      subject: promqlValuesSubject(subject),
      schema: promqlLabelsRequestSchema,
      description: "Values of one label among the series matching the selectors",
      handler: async (request, context): Promise<PromqlLabelsAnswer> => {
        const name = request.name;
        // Tag names as instances hold them (`k8s.pod` too), not only Prometheus' own.
        if (name === undefined || !TAG_NAME.test(name)) {
          throw badData(`invalid label name: ${JSON.stringify(name ?? "")}`);
        }
        const found = await seriesFor(federator, request, context);
        const values = new Set<string>();
        for (const labels of found.series) {
          const value = labels[name];
          if (value !== undefined) values.add(value);
        }
        return withWarnings([...values].sort(), found.warnings);
      },
    }),
  ];
}

interface Ranged {
  start?: string | number | undefined;
  end?: string | number | undefined;
}

function rangeOf(request: Ranged, now = Date.now()): { start: number; end: number } {
  const end = request.end === undefined ? now : parsePromTime("end", request.end);
  const start =
    request.start === undefined
      ? end - DEFAULT_LABELS_RANGE_MS
      : parsePromTime("start", request.start);
  if (end < start) {
    throw badData("end timestamp must not be before start time");
  }
  return { start, end };
}

/** A `match[]` selector's matchers; anything but a plain selector is refused. */
function selectorMatchers(text: string): LabelMatcher[] {
  const expr = parseQuery(text);
  if (expr.type !== "vectorSelector") {
    throw badData(
      `match[] must be a series selector such as up{job="api"}, not ${JSON.stringify(text)}`,
    );
  }
  return expr.matchers;
}

/** Every series has a name: with no selector, all of them. */
const ALL_SERIES: LabelMatcher[] = [{ name: "__name__", op: "=~", value: ".+" }];

async function seriesFor(
  federator: Federator,
  request: Ranged & { match?: string[] | undefined },
  context: { signal: AbortSignal; deadline: Deadline },
) {
  const { start, end } = rangeOf(request);
  const selectors =
    request.match && request.match.length > 0 ? request.match.map(selectorMatchers) : [ALL_SERIES];
  return federator.seriesLabels(selectors, start, end, {
    signal: context.signal,
    deadline: context.deadline,
  });
}

function withWarnings(values: string[], warnings: string[]): PromqlLabelsAnswer {
  return warnings.length > 0 ? { values, warnings } : { values };
}
