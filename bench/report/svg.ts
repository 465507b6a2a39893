// Hand-built SVG chart: latency percentiles per target (log scale) and max throughput per target.
import type { Spread } from "../lib/types.ts";
import { num } from "./format.ts";
import type { BenchResults } from "./results.ts";

const W = 1000;
const H = 460;
const TOP = 60;
const BOTTOM = 380;
const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const text = (x: number, y: number, s: string, attrs = ""): string => `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;

interface Bar {
  group: string;
  series: number;
  value: Spread;
}

/** A bar with a min–max whisker, so the spread over repetitions is visible, not just the median. */
function bar(x: number, w: number, y: (v: number) => number, s: Spread, color: string): string {
  const top = y(s.median);
  const parts = [`<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${w.toFixed(1)}" height="${Math.max(0, BOTTOM - top).toFixed(1)}" fill="${color}"/>`];
  if (s.n > 1) {
    const cx = x + w / 2;
    parts.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y(s.max).toFixed(1)}" y2="${y(s.min).toFixed(1)}" stroke="#222" stroke-width="1"/>`);
  }
  return parts.join("");
}

function panel(x0: number, x1: number, title: string, groups: string[], bars: Bar[], colors: string[], y: (v: number) => number, ticks: number[], unit: string, labelDigits: number): string {
  const out = [text(x0, TOP - 30, title, 'font-weight="bold" font-size="14"')];
  for (const t of ticks) {
    const ty = y(t);
    out.push(`<line x1="${x0}" x2="${x1}" y1="${ty.toFixed(1)}" y2="${ty.toFixed(1)}" stroke="#ddd"/>`, text(x0 - 6, ty + 4, `${t === 0 ? "0" : num(t, t < 1 ? 2 : 0)}${unit}`, 'text-anchor="end" font-size="10"'));
  }
  const gw = (x1 - x0) / Math.max(1, groups.length);
  const nSeries = colors.length;
  const bw = (gw * 0.8) / nSeries;
  groups.forEach((g, gi) => {
    const gx = x0 + gi * gw + gw * 0.1;
    for (const b of bars.filter((b) => b.group === g)) {
      const bx = gx + b.series * bw;
      out.push(bar(bx, bw * 0.9, y, b.value, colors[b.series] ?? "#888"));
      out.push(text(bx + bw * 0.45, y(b.value.median) - 4, num(b.value.median, labelDigits), 'text-anchor="middle" font-size="9"'));
    }
    out.push(text(gx + gw * 0.4, BOTTOM + 16, g, 'text-anchor="middle" font-size="11"'));
  });
  out.push(`<line x1="${x0}" x2="${x1}" y1="${BOTTOM}" y2="${BOTTOM}" stroke="#444"/>`);
  return out.join("\n");
}

export function chartSvg(r: BenchResults): string {
  const names = Object.keys(r.targets);
  const parts: string[] = [];
  const lat = r.latency;
  if (lat) {
    const keys = ["p50", "p99", "p999"] as const;
    const bars: Bar[] = names.flatMap((g) => keys.map((k, series) => ({ group: g, series, value: lat.summary[g]?.ms[k] ?? { min: 0, median: 0, max: 0, n: 0 } })));
    const vals = bars.flatMap((b) => [b.value.max, b.value.min]).filter((v) => v > 0);
    // Log scale: p99.9 is often ten times p50, and linear bars would flatten the p50s into nothing.
    const lo = 10 ** Math.floor(Math.log10(Math.min(...vals, 1)));
    const hi = 10 ** Math.ceil(Math.log10(Math.max(...vals, 1)));
    const y = (v: number): number => BOTTOM - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (BOTTOM - TOP);
    const ticks: number[] = [];
    for (let t = lo; t <= hi * 1.001; t *= 10) ticks.push(t);
    parts.push(panel(70, 560, `Latency at ${lat.rate} req/s (ms, log scale)`, names, bars, ["#4C78A8", "#F58518", "#E45756"], y, ticks, "", 2));
    parts.push(
      ...["p50", "p99", "p99.9"].map((k, i) => `<rect x="${70 + i * 70}" y="${H - 40}" width="12" height="12" fill="${["#4C78A8", "#F58518", "#E45756"][i]}"/>${text(86 + i * 70, H - 30, k, 'font-size="11"')}`),
    );
  }
  const tp = r.throughput;
  if (tp) {
    const bars: Bar[] = names.map((g) => ({ group: g, series: 0, value: tp.summary[g]?.rps ?? { min: 0, median: 0, max: 0, n: 0 } }));
    const hi = Math.max(...bars.map((b) => b.value.max), 1) * 1.15;
    const step = 10 ** Math.floor(Math.log10(hi)) / (hi / 10 ** Math.floor(Math.log10(hi)) < 3 ? 2 : 1);
    const ticks: number[] = [];
    for (let t = 0; t <= hi; t += step) ticks.push(t);
    const y = (v: number): number => BOTTOM - (v / hi) * (BOTTOM - TOP);
    parts.push(panel(640, 980, "Max throughput (req/s, JSON)", names, bars, ["#54A24B"], y, ticks, "", 0));
    names.forEach((g, i) => {
      const rd = tp.summary[g]?.vsDirect.median;
      const gw = 340 / names.length;
      if (rd !== undefined && Number.isFinite(rd)) parts.push(text(640 + i * gw + gw * 0.5, BOTTOM + 30, `${num(rd)}× direct`, 'text-anchor="middle" font-size="10" fill="#555"'));
    });
  }
  const sub = `${r.meta.date} · ${r.meta.mode} · median bars, whiskers min–max over ${r.meta.profile.reps} interleaved reps${r.meta.arouterMode === "standin" ? " · arouter = STAND-IN" : ""}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="#fff"/>
${text(W - 10, H - 10, sub, 'text-anchor="end" font-size="10" fill="#666"')}
${parts.join("\n")}
</svg>
`;
}
