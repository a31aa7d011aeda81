// Small pieces shared by the pages: times, status badges, the bars (SVG, so their widths
// are attributes and need no inline style under the CSP; each has a text equivalent),
// a table box that scrolls on its own on a phone.
import { html } from "hono/html";
import { formatLocalDate } from "../../calling-rules/time-zone";
import type { CampaignView } from "../../campaigns/schemas";
import type { Html } from "./layout";

/** "2026-11-23 22:13 UTC" (or with seconds) from an ISO instant; "—" for none. */
export function formatUtc(iso: string | null | undefined, withSeconds = false): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const text = date.toISOString();
  return `${text.slice(0, 10)} ${text.slice(11, withSeconds ? 19 : 16)} UTC`;
}

/**
 * "08:00 Tue 8 Dec, America/Denver": an instant in the zone it is about (a driver's next
 * attempt in the driver's zone, a campaign's start in the campaign's), with its date, and
 * the year when it is not this year.
 */
export function formatInZone(iso: string | null, timeZone: string, now: Date): string {
  if (!iso) return "—";
  try {
    return formatLocalDate(new Date(iso), timeZone, now);
  } catch {
    return formatUtc(iso);
  }
}

export function statusBadge(status: string): Html {
  return html`<span class="status status-${status}">${status}</span>`;
}

/** What a QUEUED target waits for, in words (the targets table). */
export const WAITING_FOR_TEXT: Readonly<Record<string, string>> = {
  start_at: "the campaign's start",
  calling_window: "its calling window",
  retry: "its next retry",
  slot: "a free line",
  number_in_call: "its number's call to end",
};

/** The same, as a count's label ("calling window: 12"). */
export const WAITING_FOR_LABEL: Readonly<Record<string, string>> = {
  start_at: "start time",
  calling_window: "calling window",
  retry: "retry",
  slot: "a free line",
  number_in_call: "number in a call",
};

export const SEGMENTS = [
  ["completed", "Completed"],
  ["calling", "Calling"],
  ["queued", "Queued"],
  ["failed", "Failed"],
  ["skipped", "Skipped"],
  ["cancelled", "Cancelled"],
] as const;

const BAR_UNITS = 1000;

/** Widths in bar units that add up to the whole bar (largest remainders, so no gap). */
function widths(values: readonly number[], total: number): number[] {
  if (total <= 0) return values.map(() => 0);
  const exact = values.map((value) => (value / total) * BAR_UNITS);
  const floors = exact.map(Math.floor);
  let left = BAR_UNITS - floors.reduce((sum, value) => sum + value, 0);
  const order = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value) }))
    .sort((a, b) => b.remainder - a.remainder);
  for (const { index } of order) {
    if (left <= 0) break;
    floors[index] = (floors[index] ?? 0) + 1;
    left--;
  }
  return floors;
}

export function countsText(counts: CampaignView["counts"]): string {
  const parts = SEGMENTS.map(([key, label]) => `${label} ${counts[key]}`);
  return `${parts.join(", ")}, of ${counts.total} drivers`;
}

function bar(className: string, height: number, label: string, rects: Html[]): Html {
  return html`<svg class="${className}" viewBox="0 0 ${BAR_UNITS} 10" preserveAspectRatio="none" width="100%" height="${height}" role="img" aria-label="${label}">${rects}</svg>`;
}

/** One stacked bar of a campaign's targets by status; its label reads the numbers out. */
export function stackedBar(counts: CampaignView["counts"]): Html {
  const sizes = widths(
    SEGMENTS.map(([key]) => counts[key]),
    counts.total,
  );
  let x = 0;
  const rects = SEGMENTS.flatMap(([key], index) => {
    const width = sizes[index] ?? 0;
    const rect = html`<rect class="seg-${key}" x="${x}" y="0" width="${width}" height="10"/>`;
    x += width;
    return width > 0 ? [rect] : [];
  });
  return bar("bar", 16, countsText(counts), rects);
}

/** The bar's legend: every status with its number, as text. */
export function barLegend(counts: CampaignView["counts"]): Html {
  return html`<ul class="legend">
    ${SEGMENTS.map(
      ([key, label]) =>
        html`<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true" focusable="false"><rect class="seg-${key}" width="10" height="10"/></svg><span>${label}: <strong>${counts[key]}</strong></span></li>`,
    )}
  </ul>`;
}

export function finishedOf(counts: CampaignView["counts"]): number {
  return counts.completed + counts.failed + counts.skipped + counts.cancelled;
}

/** A small progress bar: finished targets of total, with the numbers beside it. */
export function progressBar(counts: CampaignView["counts"]): Html {
  const finished = finishedOf(counts);
  const [done = 0] = widths([finished, counts.total - finished], counts.total);
  const label = `${finished} of ${counts.total} finished`;
  const rect =
    done > 0 ? [html`<rect class="seg-finished" x="0" y="0" width="${done}" height="10"/>`] : [];
  return html`<span class="progress-cell">${bar("bar bar-small", 12, label, rect)}<span aria-hidden="true">${label}</span></span>`;
}

/** A table that scrolls inside its own box on a narrow screen (keyboard-reachable). */
export function tableBox(labelledBy: string, table: Html): Html {
  return html`<div class="table-box" role="region" aria-labelledby="${labelledBy}" tabindex="0">${table}</div>`;
}

/** An optional link: `<p><a href>text</a></p>` or nothing. */
export function linkLine(link: { href: string; text: string } | undefined): Html | string {
  return link ? html`<p><a href="${link.href}">${link.text}</a></p>` : "";
}
