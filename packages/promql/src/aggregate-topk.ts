/**
 * topk and bottomk as Prometheus 2 computes them: a bounded heap per group (Go's container/heap),
 * then sorted with Go's sort. Which of equal or NaN samples survive, and their order in the
 * result, follow from these exact steps, so they are reproduced rather than approximated.
 */
import type { VectorSample } from "./values.ts";

/** Whether `a` sits nearer the heap's top: the smallest kept value for topk, largest for bottomk. */
type Less = (a: number, b: number) => boolean;

// NaN always counts as "less", as in Prometheus' vectorByValueHeap / vectorByReverseValueHeap.
const topkLess: Less = (a, b) => Number.isNaN(a) || a < b;
const bottomkLess: Less = (a, b) => Number.isNaN(a) || a > b;

class SampleHeap {
  readonly items: VectorSample[] = [];
  private readonly less: Less;

  constructor(less: Less) {
    this.less = less;
  }

  private lessAt(i: number, j: number): boolean {
    return this.less((this.items[i] as VectorSample).v, (this.items[j] as VectorSample).v);
  }

  private swap(i: number, j: number): void {
    const item = this.items[i] as VectorSample;
    this.items[i] = this.items[j] as VectorSample;
    this.items[j] = item;
  }

  private up(start: number): void {
    let j = start;
    for (;;) {
      const i = Math.trunc((j - 1) / 2);
      if (i === j || !this.lessAt(j, i)) break;
      this.swap(i, j);
      j = i;
    }
  }

  private down(start: number, n: number): void {
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      let j = left;
      const right = left + 1;
      if (right < n && this.lessAt(right, left)) j = right;
      if (!this.lessAt(j, i)) break;
      this.swap(i, j);
      i = j;
    }
  }

  push(sample: VectorSample): void {
    this.items.push(sample);
    this.up(this.items.length - 1);
  }

  pop(): void {
    const n = this.items.length - 1;
    this.swap(0, n);
    this.down(0, n);
    this.items.pop();
  }

  /** The heap sorted by Go's sort.Sort(sort.Reverse(heap)): best first. */
  sortedBestFirst(): VectorSample[] {
    const items = [...this.items];
    goSort(items, (a, b) => this.less(b.v, a.v));
    return items;
  }
}

/** Keeps the k best samples of one group as they arrive. */
export class KBest {
  private readonly heap: SampleHeap;
  private readonly kind: "topk" | "bottomk";
  private readonly k: number;

  constructor(kind: "topk" | "bottomk", k: number, first: VectorSample) {
    this.kind = kind;
    this.k = k;
    this.heap = new SampleHeap(kind === "topk" ? topkLess : bottomkLess);
    this.heap.items.push(first);
  }

  add(sample: VectorSample): void {
    const items = this.heap.items;
    const top = items[0] as VectorSample;
    const beatsTop = this.kind === "topk" ? top.v < sample.v : top.v > sample.v;
    if (!(items.length < this.k || beatsTop || Number.isNaN(top.v))) return;
    if (items.length === this.k) {
      if (this.k === 1) {
        items[0] = sample;
        return;
      }
      this.heap.pop();
    }
    this.heap.push(sample);
  }

  result(): VectorSample[] {
    return this.heap.items.length > 1 ? this.heap.sortedBestFirst() : [...this.heap.items];
  }
}

/**
 * Go's sort.Sort (pattern-defeating quicksort, Go 1.19+) on a slice. Unstable, so the order of
 * equal elements depends on the exact algorithm: small slices use insertion sort, which is
 * stable, and larger ones Go's pdqsort, ported below.
 */
export function goSort<T>(items: T[], less: (a: T, b: T) => boolean): void {
  const n = items.length;
  if (n <= 1) return;
  const data = new SortData(items, less);
  pdqsort(data, 0, n, bitLength(n));
}

class SortData<T> {
  readonly items: T[];
  private readonly lessFn: (a: T, b: T) => boolean;

  constructor(items: T[], lessFn: (a: T, b: T) => boolean) {
    this.items = items;
    this.lessFn = lessFn;
  }
  less(i: number, j: number): boolean {
    return this.lessFn(this.items[i] as T, this.items[j] as T);
  }
  swap(i: number, j: number): void {
    const item = this.items[i] as T;
    this.items[i] = this.items[j] as T;
    this.items[j] = item;
  }
}

function bitLength(n: number): number {
  return n === 0 ? 0 : 32 - Math.clz32(n);
}

function insertionSort<T>(data: SortData<T>, a: number, b: number): void {
  for (let i = a + 1; i < b; i++) {
    for (let j = i; j > a && data.less(j, j - 1); j--) data.swap(j, j - 1);
  }
}

function heapSort<T>(data: SortData<T>, a: number, b: number): void {
  const first = a;
  const hi = b - a;
  for (let i = Math.trunc((hi - 1) / 2); i >= 0; i--) siftDown(data, i, hi, first);
  for (let i = hi - 1; i >= 0; i--) {
    data.swap(first, first + i);
    siftDown(data, 0, i, first);
  }
}

function siftDown<T>(data: SortData<T>, lo: number, hi: number, first: number): void {
  let root = lo;
  for (;;) {
    let child = 2 * root + 1;
    if (child >= hi) return;
    if (child + 1 < hi && data.less(first + child, first + child + 1)) child++;
    if (!data.less(first + root, first + child)) return;
    data.swap(first + root, first + child);
    root = child;
  }
}

const UNKNOWN_HINT = 0;
const INCREASING_HINT = 1;
const DECREASING_HINT = 2;

function pdqsort<T>(data: SortData<T>, start: number, end: number, badPivotLimit: number): void {
  let a = start;
  let b = end;
  let limit = badPivotLimit;
  let wasBalanced = true;
  let wasPartitioned = true;
  for (;;) {
    const length = b - a;
    if (length <= 12) {
      insertionSort(data, a, b);
      return;
    }
    if (limit === 0) {
      heapSort(data, a, b);
      return;
    }
    if (!wasBalanced) {
      breakPatterns(data, a, b);
      limit--;
    }
    let [pivot, hint] = choosePivot(data, a, b);
    if (hint === DECREASING_HINT) {
      reverseRange(data, a, b);
      pivot = b - 1 - (pivot - a);
      hint = INCREASING_HINT;
    }
    if (wasBalanced && wasPartitioned && hint === INCREASING_HINT) {
      if (partialInsertionSort(data, a, b)) return;
    }
    if (a > 0 && !data.less(a - 1, pivot)) {
      a = partitionEqual(data, a, b, pivot);
      continue;
    }
    const [mid, alreadyPartitioned] = partition(data, a, b, pivot);
    wasPartitioned = alreadyPartitioned;
    const leftLength = mid - a;
    const rightLength = b - mid;
    const balanceThreshold = Math.trunc(length / 8);
    if (leftLength < rightLength) {
      wasBalanced = leftLength >= balanceThreshold;
      pdqsort(data, a, mid, limit);
      a = mid + 1;
    } else {
      wasBalanced = rightLength >= balanceThreshold;
      pdqsort(data, mid + 1, b, limit);
      b = mid;
    }
  }
}

function partition<T>(data: SortData<T>, a: number, b: number, pivot: number): [number, boolean] {
  data.swap(a, pivot);
  let i = a + 1;
  let j = b - 1;
  while (i <= j && data.less(i, a)) i++;
  while (i <= j && !data.less(j, a)) j--;
  if (i > j) {
    data.swap(j, a);
    return [j, true];
  }
  data.swap(i, j);
  i++;
  j--;
  for (;;) {
    while (i <= j && data.less(i, a)) i++;
    while (i <= j && !data.less(j, a)) j--;
    if (i > j) break;
    data.swap(i, j);
    i++;
    j--;
  }
  data.swap(j, a);
  return [j, false];
}

function partitionEqual<T>(data: SortData<T>, a: number, b: number, pivot: number): number {
  data.swap(a, pivot);
  let i = a + 1;
  let j = b - 1;
  for (;;) {
    while (i <= j && !data.less(a, i)) i++;
    while (i <= j && data.less(a, j)) j--;
    if (i > j) break;
    data.swap(i, j);
    i++;
    j--;
  }
  return i;
}

function partialInsertionSort<T>(data: SortData<T>, a: number, b: number): boolean {
  const maxSteps = 5;
  const shortestShifting = 50;
  let i = a + 1;
  for (let step = 0; step < maxSteps; step++) {
    while (i < b && !data.less(i, i - 1)) i++;
    if (i === b) return true;
    if (b - a < shortestShifting) return false;
    data.swap(i, i - 1);
    if (i - a >= 2) {
      for (let j = i - 1; j >= 1; j--) {
        if (!data.less(j, j - 1)) break;
        data.swap(j, j - 1);
      }
    }
    if (b - i >= 2) {
      for (let j = i + 1; j < b; j++) {
        if (!data.less(j, j - 1)) break;
        data.swap(j, j - 1);
      }
    }
  }
  return false;
}

const UINT64_MASK = (1n << 64n) - 1n;

function breakPatterns<T>(data: SortData<T>, a: number, b: number): void {
  const length = b - a;
  if (length < 8) return;
  // Go 1.19's xorshift, seeded with the length.
  let random = BigInt(length);
  const modulus = BigInt(2 ** bitLength(length));
  const middle = a + Math.trunc(length / 4) * 2;
  for (let idx = middle - 1; idx <= middle + 1; idx++) {
    random ^= (random << 13n) & UINT64_MASK;
    random ^= random >> 17n;
    random ^= (random << 5n) & UINT64_MASK;
    let other = Number(random & (modulus - 1n));
    if (other >= length) other -= length;
    data.swap(idx, a + other);
  }
}

function choosePivot<T>(data: SortData<T>, a: number, b: number): [number, number] {
  const shortestNinther = 50;
  const maxSwaps = 4 * 3;
  const l = b - a;
  const swaps = { count: 0 };
  const quarter = Math.trunc(l / 4);
  let i = a + quarter;
  let j = a + quarter * 2;
  let k = a + quarter * 3;
  if (l >= 8) {
    if (l >= shortestNinther) {
      i = median(data, i - 1, i, i + 1, swaps);
      j = median(data, j - 1, j, j + 1, swaps);
      k = median(data, k - 1, k, k + 1, swaps);
    }
    j = median(data, i, j, k, swaps);
  }
  if (swaps.count === 0) return [j, INCREASING_HINT];
  if (swaps.count === maxSwaps) return [j, DECREASING_HINT];
  return [j, UNKNOWN_HINT];
}

function median<T>(
  data: SortData<T>,
  first: number,
  second: number,
  third: number,
  swaps: { count: number },
): number {
  const order = (x: number, y: number): [number, number] => {
    if (data.less(y, x)) {
      swaps.count++;
      return [y, x];
    }
    return [x, y];
  };
  let a = first;
  let b = second;
  let c = third;
  [a, b] = order(a, b);
  [b, c] = order(b, c);
  [a, b] = order(a, b);
  return b;
}

function reverseRange<T>(data: SortData<T>, a: number, b: number): void {
  for (let i = a, j = b - 1; i < j; i++, j--) data.swap(i, j);
}
