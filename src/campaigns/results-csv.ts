// GET /campaigns/{id}/results.csv: one row per driver, in request order, with what its
// latest call found out. Streamed: a ReadableStream pulls one page of targets at a time
// (keyset on position), so a 10,000-driver campaign never sits whole in memory.
//
// RFC 4180 quoting is papaparse's (Papa.unparse, pure JS, runs in a Worker). Its own
// formula escaping is not used: it applies to every text cell, and would turn E.164 phone
// numbers ("+1555...") into "'+1555..."; and its pattern stops at a line break, so
// "=1+1\n..." would pass. Cells are guarded here instead, every column but the phone
// number (E.164, always "+digits", which a spreadsheet reads as a number, not a formula):
// OWASP's rule (a cell that starts with =, +, -, @, a tab or a carriage return gets a
// leading '), widened to the first non-blank character, because spreadsheets skip the
// spaces and line breaks before a formula (" =1+1" runs too).
//
// The file starts with a UTF-8 byte-order mark: without it Excel on Windows reads the file
// in the machine's code page and "José" becomes "JosÃ©".
import { sql } from "drizzle-orm";
import Papa from "papaparse";
import type { Database } from "../db/client";
import { withDbRetry } from "../db/retry";
import { getCampaign } from "./repository";
import type { CampaignView } from "./schemas";

export const RESULTS_PAGE_SIZE = 500;

const FIXED_COLUMNS = [
  "driver_id",
  "driver_name",
  "phone_number",
  "status",
  "attempts",
  "last_call_sid",
  "call_successful",
  "summary",
  "termination_reason",
  "last_failure_reason",
] as const;

const FORMULA_START = /^(?:\s*[=+\-@]|[\t\r])/;
const BYTE_ORDER_MARK = "\uFEFF";

/** OWASP's CSV-injection rule, on the cell's first non-blank character. */
export function escapeFormula(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** A data-collection value as a cell: strings as they are, anything else as JSON. */
function dataCollectionCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  return escapeFormula(typeof value === "string" ? value : JSON.stringify(value));
}

interface ResultRow extends Record<string, unknown> {
  position: number;
  driver_id: number;
  /** NULL once the driver's data was erased: an empty cell. */
  driver_name: string | null;
  phone_number: string | null;
  status: string;
  attempts: number;
  last_call_sid: string | null;
  call_successful: string | null;
  summary: string | null;
  termination_reason: string | null;
  last_failure_reason: string | null;
  data_collection: Record<string, unknown> | string | null;
}

/** "hos-follow-up-week-48-1a2b3c4d-results.csv": safe in a Content-Disposition header. */
export function resultsFileName(campaign: Pick<CampaignView, "id" | "name">): string {
  const slug = (campaign.name ?? "campaign")
    .normalize("NFKD")
    .replace(/[^A-Za-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .toLowerCase()
    .slice(0, 60);
  return `${slug || "campaign"}-${campaign.id.slice(0, 8)}-results.csv`;
}

/** The stream of the campaign's results CSV; null when there is no such campaign. */
export async function campaignResultsCsv(
  db: Database,
  campaignId: string,
): Promise<{ campaign: CampaignView; stream: ReadableStream<Uint8Array> } | null> {
  const campaign = await getCampaign(db, campaignId);
  if (!campaign) return null;
  // The data-collection ids found in the campaign's latest calls, for the dc_ columns.
  const { rows: idRows } = await withDbRetry(() =>
    db.execute<{ id: string }>(sql`
      SELECT DISTINCT keys.id
      FROM campaign_targets t
      JOIN calls c ON c.id = t.call_ids[cardinality(t.call_ids)]
      CROSS JOIN LATERAL jsonb_object_keys(
        CASE WHEN jsonb_typeof(c.data_collection) = 'object' THEN c.data_collection ELSE '{}'::jsonb END
      ) AS keys(id)
      WHERE t.campaign_id = ${campaign.id}::uuid
      ORDER BY keys.id
    `),
  );
  const collectionIds = idRows.map((row) => row.id);
  const header = [...FIXED_COLUMNS, ...collectionIds.map((id) => `dc_${id}`)].map(escapeFormula);
  const encoder = new TextEncoder();
  const unparse = (rows: string[][]) =>
    Papa.unparse(rows, { header: false, newline: "\r\n", quotes: false, escapeFormulae: false });

  let after = 0;
  let headerSent = false;
  let done = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headerSent) {
        headerSent = true;
        controller.enqueue(encoder.encode(`${BYTE_ORDER_MARK}${unparse([header])}\r\n`));
        return;
      }
      if (done) {
        controller.close();
        return;
      }
      const { rows } = await withDbRetry(() =>
        db.execute<ResultRow>(sql`
          SELECT t.position, t.driver_id, t.driver_name, t.phone_number, t.status,
                 cardinality(t.call_ids) AS attempts, c.call_sid AS last_call_sid,
                 c.call_successful, c.transcript_summary AS summary, c.termination_reason,
                 t.last_failure_reason, c.data_collection
          FROM campaign_targets t
          LEFT JOIN calls c ON c.id = t.call_ids[cardinality(t.call_ids)]
          WHERE t.campaign_id = ${campaign.id}::uuid AND t.position > ${after}
          ORDER BY t.position
          LIMIT ${RESULTS_PAGE_SIZE}
        `),
      );
      if (rows.length < RESULTS_PAGE_SIZE) done = true;
      const last = rows.at(-1);
      if (last) after = Number(last.position);
      if (rows.length === 0) {
        controller.close();
        return;
      }
      const cells = rows.map((row) => {
        const collected =
          typeof row.data_collection === "string"
            ? (JSON.parse(row.data_collection) as Record<string, unknown>)
            : (row.data_collection ?? {});
        return [
          escapeFormula(String(row.driver_id)),
          escapeFormula(row.driver_name ?? ""),
          row.phone_number ?? "",
          escapeFormula(row.status),
          escapeFormula(String(row.attempts)),
          escapeFormula(row.last_call_sid ?? ""),
          escapeFormula(row.call_successful ?? ""),
          escapeFormula(row.summary ?? ""),
          escapeFormula(row.termination_reason ?? ""),
          escapeFormula(row.last_failure_reason ?? ""),
          ...collectionIds.map((id) => dataCollectionCell(collected[id])),
        ];
      });
      controller.enqueue(encoder.encode(`${unparse(cells)}\r\n`));
    },
  });
  return { campaign, stream };
}
