// A small Prometheus text-format registry (exposition format 0.0.4): counters, gauges and fixed-bucket histograms.

type Labels = Record<string, string>;
const key = (labels: Labels): string => renderLabels(labels);

export const renderLabels = (labels: Labels): string => Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',');

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    this.incRendered(key(labels), by);
  }
  /** For callers that cache the rendered label set (`renderLabels`), skipping the per-call rendering. */
  incRendered(k: string, by = 1): void {
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const [k, v] of this.values) out += `${this.name}${k ? `{${k}}` : ''} ${v}\n`;
    return out;
  }
}

export class Gauge {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, private readonly read?: () => number) {}
  set(labels: Labels, v: number): void {
    this.values.set(key(labels), v);
  }
  add(labels: Labels, by: number): void {
    this.addRendered(key(labels), by);
  }
  /** For callers that cache the rendered label set (`renderLabels`). */
  addRendered(k: string, by: number): void {
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    if (this.read) out += `${this.name} ${this.read()}\n`;
    for (const [k, v] of this.values) out += `${this.name}${k ? `{${k}}` : ''} ${v}\n`;
    return out;
  }
}

export class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; n: number }>();
  constructor(readonly name: string, readonly help: string, private readonly buckets: readonly number[]) {}
  observe(labels: Labels, v: number): void {
    this.observeRendered(key(labels), v);
  }
  observeRendered(k: string, v: number): void {
    let s = this.series.get(k);
    if (!s) {
      s = { counts: new Array(this.buckets.length).fill(0), sum: 0, n: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (v <= (this.buckets[i] ?? Infinity)) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += v;
    s.n++;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const [k, s] of this.series) {
      const sep = k ? ',' : '';
      this.buckets.forEach((b, i) => (out += `${this.name}_bucket{${k}${sep}le="${b}"} ${s.counts[i]}\n`));
      out += `${this.name}_bucket{${k}${sep}le="+Inf"} ${s.n}\n${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}\n${this.name}_count${k ? `{${k}}` : ''} ${s.n}\n`;
    }
    return out;
  }
}

export class Registry {
  private readonly items: Array<{ render(): string }> = [];
  register<T extends { render(): string }>(m: T): T {
    this.items.push(m);
    return m;
  }
  render(): string {
    return this.items.map((m) => m.render()).join('');
  }
}
