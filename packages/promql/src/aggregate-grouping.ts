/** Which group a sample falls in, and the labels that group's result carries. */
import type { Labels } from "./values.ts";

/**
 * The labels of a sample's group: only the `by (…)` labels it has, or all but the
 * `without (…)` labels and the metric name. The label set doubles as the group's identity.
 */
export function groupLabels(labels: Labels, grouping: readonly string[], without: boolean): Labels {
  const listed = new Set(grouping);
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    if (value === "") continue;
    const keep = without ? !listed.has(name) && name !== "__name__" : listed.has(name);
    if (keep) result[name] = value;
  }
  return result;
}
