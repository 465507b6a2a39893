// Number formatting shared by the Markdown summary and the chart.
import type { Spread } from "../lib/types.ts";

export function num(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return "–";
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US");
  return x.toFixed(digits);
}

export const signed = (x: number, digits = 2): string => (Number.isFinite(x) && x > 0 ? "+" : "") + num(x, digits);

/** "median (min–max)", the spread over repetitions that every table shows. */
export function sp(s: Spread | undefined, digits = 2, sign = false): string {
  if (!s || s.n === 0) return "–";
  const f = sign ? signed : num;
  return s.n === 1 ? f(s.median, digits) : `${f(s.median, digits)} (${f(s.min, digits)}…${f(s.max, digits)})`;
}

export const ratio = (s: Spread | undefined): string => (!s || s.n === 0 ? "–" : s.n === 1 ? `${num(s.median)}×` : `${num(s.median)}× (${num(s.min)}…${num(s.max)})`);
