/**
 * Label-set keys and derived label sets, remembered per labels object: label sets are never
 * mutated and the same object recurs at every step, so each is computed once per series rather
 * than once per step, and derived sets keep one identity that later caches can rely on.
 */
import { dropMetricName, type Labels, labelsKey } from "./values.ts";

const keys = new WeakMap<Labels, string>();

export function keyOfLabels(labels: Labels): string {
  let key = keys.get(labels);
  if (key === undefined) {
    key = labelsKey(labels);
    keys.set(labels, key);
  }
  return key;
}

const withoutNames = new WeakMap<Labels, Labels>();

/** `dropMetricName`, answering the same object for the same input. */
export function withoutMetricName(labels: Labels): Labels {
  if (!("__name__" in labels)) return labels;
  let dropped = withoutNames.get(labels);
  if (dropped === undefined) {
    dropped = dropMetricName(labels);
    withoutNames.set(labels, dropped);
  }
  return dropped;
}

/**
 * A cache of values derived from a label set under some fixed setting (a grouping, a vector
 * matching): one per setting object, one entry per labels object.
 */
export class DerivedLabels<Setting extends object, T> {
  private readonly bySetting = new WeakMap<Setting, WeakMap<Labels, T>>();
  private readonly derive: (labels: Labels, setting: Setting) => T;

  constructor(derive: (labels: Labels, setting: Setting) => T) {
    this.derive = derive;
  }

  get(labels: Labels, setting: Setting): T {
    let cache = this.bySetting.get(setting);
    if (cache === undefined) {
      cache = new WeakMap();
      this.bySetting.set(setting, cache);
    }
    let value = cache.get(labels);
    if (value === undefined) {
      value = this.derive(labels, setting);
      cache.set(labels, value);
    }
    return value;
  }
}
