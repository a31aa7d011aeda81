// `SCALE_FIXES=1 npm run bench:scale`: the fixes proposed for the issue "the claim and the
// crons at flat cost", measured on the seeded database with the same functions, parameters
// and runs as the figures before them. Nothing here changes src/: a rewrite is applied by
// the bench's transport to the statement text the service sent (a string edit, reported as
// "not applied" when the statement no longer has the shape it edits), and an index is built
// with CREATE INDEX CONCURRENTLY, as a migration would.
//
//   A. call_sid: try the bare EL_{driver}_{secs} first (one probe of uq_calls_call_sid);
//      the existing search over 1000 suffixes runs only when that one is taken or the
//      claim has the same driver twice. Same result in every case, any collation. (The
//      service does this itself since commit bc486bf: then A is reported "in src" and only
//      the other fixes are measured.)
//   B. do-not-call skips: look only at the head of the due queue (the first 500 due
//      targets in claim order, from idx_campaign_targets_due), not at every due target,
//      and lock only those whose number is on the list.
//   C. placement: ORDER BY the indexed expression (idx_campaign_targets_to_place) alone,
//      not by id: the scan stops at LIMIT, or at once when nothing needs placing, whatever
//      the planner estimates (it cannot estimate this predicate: it takes a default third
//      of the QUEUED targets, and then walks the primary key). C2 is the alternative that
//      keeps an id tie-break: an index on (coalesce(window_ends_at, ...), id).
//   D. GET /calls?driver_id=: an index matching the filter and the keyset order.
import { type Measure, type MeasureResult, measure } from "./scale-measure.ts";
import type { ScaleSizes, SeedResult } from "./scale-seed.ts";
import type { ServiceFunctions } from "./scale-service.ts";
import type { RollbackTransport } from "./scale-transport.ts";

export interface FixContext {
  transport: RollbackTransport;
  service: ServiceFunctions;
  db: unknown;
  seeded: SeedResult;
  sizes: ScaleSizes;
  baseline: MeasureResult[];
  measures: Measure[];
  log: (line: string) => void;
}

interface Rewrite {
  key: string;
  /** The statement edited, or null when it does not have the shape this edits. */
  apply(query: string): string | null;
  /** Whether the service's statement already does what this rewrite would. */
  present?(query: string): boolean;
}

/** A. The first free call_sid without generating 1000 candidates per row. */
export const callSidFastPath: Rewrite = {
  key: "A",
  // The service does it since bc486bf (CASE WHEN skip = 0 AND NOT EXISTS (...) THEN base ELSE
  // <the search> END): then this rewrite is not applied.
  present: (query) =>
    /WHEN \S+ = 0 AND NOT EXISTS \(SELECT 1 FROM calls WHERE calls\.call_sid = /.test(query),
  apply(query) {
    if (this.present?.(query)) return null;
    const pattern =
      /\(SELECT sid\.candidate\s+FROM generate_series\(1, \$\d+\) AS suffix\(k\),\s+LATERAL \(SELECT CASE WHEN suffix\.k = 1 THEN (\(.*?\)) ELSE [\s\S]*? END AS candidate\) AS sid\s+WHERE NOT EXISTS \(SELECT 1 FROM calls WHERE calls\.call_sid = sid\.candidate\)\s+ORDER BY suffix\.k OFFSET (\S+) LIMIT 1\)/g;
    let hits = 0;
    const rewritten = query.replace(pattern, (search: string, base: string, skip: string) => {
      hits += 1;
      return `coalesce(
        (SELECT ${base} WHERE ${skip} = 0
           AND NOT EXISTS (SELECT 1 FROM calls WHERE calls.call_sid = ${base})),
        ${search})`;
    });
    return hits > 0 ? rewritten : null;
  },
};

/**
 * B. Skip do-not-call targets among the head of the due queue only: the first 500 due
 * targets in claim order (idx_campaign_targets_due), checked against the list, and only
 * the numbers found on it are joined, re-checked and locked.
 */
export const doNotCallHead: Rewrite = {
  key: "B",
  // The service does it since 44a0d69.
  present: (query) =>
    /skipped AS \([\s\S]*?ORDER BY h\.next_attempt_at, h\.id\s+LIMIT 500/.test(query),
  apply(query) {
    if (this.present?.(query)) return null;
    const pattern =
      /(skipped AS \([\s\S]*?WHERE t\.status = 'QUEUED' AND c\.status = 'RUNNING'\s+AND t\.next_attempt_at <= (\$\d+)::timestamptz AND t\.window_ends_at > (\$\d+)::timestamptz )AND EXISTS \(SELECT 1 FROM do_not_call d WHERE d\.phone_number = t\.phone_number\)(\s+LIMIT 500)/;
    const match = pattern.exec(query);
    if (!match) return null;
    const [whole, head, dueBy, openAfter, limit] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    return query.replace(
      whole,
      () => `${head}AND t.id IN (
              SELECT h.id FROM (
                SELECT h.id, h.phone_number FROM campaign_targets h
                WHERE h.status = 'QUEUED' AND h.next_attempt_at <= ${dueBy}::timestamptz
                  AND h.window_ends_at > ${openAfter}::timestamptz
                ORDER BY h.next_attempt_at, h.id
                LIMIT 500
              ) AS h
              WHERE EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone_number = h.phone_number)
            )${limit}`,
    );
  },
};

/**
 * C. The placement SELECT in the order of idx_campaign_targets_to_place alone. From
 * `ORDER BY t.id` (the planner may walk the primary key), and also from
 * `ORDER BY coalesce(...), t.id` (what src/ has in the working tree as of this bench): the
 * id tie-break is not in the index, so an Incremental Sort must read every target with
 * the same window end before the first row, and the targets of a campaign share their
 * window end (one zone, one window): when a window closes, thousands of them.
 */
export const placementIndexOrder: Rewrite = {
  key: "C",
  // The service does it since 44a0d69.
  present: (query) =>
    /ORDER BY coalesce\(t\.window_ends_at, '-infinity'::timestamptz\)\s+LIMIT/.test(query),
  apply(query) {
    if (this.present?.(query)) return null;
    const byId =
      /(SELECT t\.id, t\.time_zone[\s\S]*?coalesce\(t\.window_ends_at, '-infinity'::timestamptz\) <= \$\d+::timestamptz[\s\S]*?)ORDER BY t\.id(\s+LIMIT)/;
    if (byId.test(query)) {
      return query.replace(
        byId,
        (_whole: string, before: string, limit: string) =>
          `${before}ORDER BY coalesce(t.window_ends_at, '-infinity'::timestamptz)${limit}`,
      );
    }
    const tieBreak =
      /(SELECT t\.id, t\.time_zone[\s\S]*?ORDER BY coalesce\(t\.window_ends_at, '-infinity'::timestamptz\)), t\.id(\s+LIMIT)/;
    if (tieBreak.test(query)) {
      return query.replace(
        tieBreak,
        (_whole: string, before: string, limit: string) => `${before}${limit}`,
      );
    }
    return null;
  },
};

/** C2, instead of C: an index that has the id tie-break, for ORDER BY coalesce(...), t.id. */
export const PLACE_INDEX_WITH_ID_SQL =
  "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_campaign_targets_to_place_id ON campaign_targets ((coalesce(window_ends_at, '-infinity'::timestamptz)), id) WHERE status = 'QUEUED'";

export const DRIVER_INDEX_SQL =
  "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_calls_driver_id_created_at_id ON calls (driver_id, created_at DESC, id DESC)";
/** Two more indexes on call_sid besides uq_calls_call_sid: every claimed call writes all three. */
export const DROP_DUPLICATE_CALL_SID_INDEXES = [
  "DROP INDEX idx_calls_call_sid",
  "DROP INDEX idx_calls_call_sid_status",
];

/** The rewrites as one transport rewrite; `applied` counts each one's edits. */
function rewriting(rewrites: Rewrite[]) {
  const applied = new Map<string, number>(rewrites.map((rewrite) => [rewrite.key, 0]));
  const rewrite = (query: string) => {
    let current = query;
    for (const each of rewrites) {
      const next = each.apply(current);
      if (next !== null) {
        current = next;
        applied.set(each.key, (applied.get(each.key) ?? 0) + 1);
      }
    }
    return current;
  };
  return { rewrite, applied };
}

export async function measureFixes(context: FixContext): Promise<MeasureResult[]> {
  const { transport, log } = context;
  const byId = (id: string) => {
    const found = context.measures.find((item) => item.id === id);
    if (!found) throw new Error(`no measure ${id}`);
    return found;
  };
  const results: MeasureResult[] = [];
  const variant = async (
    id: string,
    label: string,
    rewrites: Rewrite[],
    options: { setup?: string[]; expect?: string[] } = {},
  ) => {
    const item = byId(id);
    const { rewrite, applied } = rewriting(rewrites);
    log(`measuring: ${item.name} ${label}`);
    const result = await measure(
      transport,
      { ...item, name: `${item.name} ${label}` },
      {
        rewrite,
        ...(options.setup ? { setup: options.setup } : {}),
      },
    );
    const missing = (options.expect ?? rewrites.map((each) => each.key)).filter(
      (key) => (applied.get(key) ?? 0) === 0,
    );
    if (missing.length > 0)
      result.name += ` [NOT APPLIED: ${missing.join(", ")}: statement changed]`;
    results.push(result);
  };

  // A fix the service does already (its `present`) is not applied; the others are measured.
  const firstQuery = (id: string) =>
    context.baseline.find((result) => result.name === byId(id).name)?.steps[0]?.statements[0]
      ?.query ?? "";
  const claimQuery = firstQuery("claim");
  const placementQuery = firstQuery("placement");
  const inSrc = (rewrite: Rewrite, query: string) => rewrite.present?.(query) === true;
  const claimFixes = [callSidFastPath, doNotCallHead].filter((each) => !inSrc(each, claimQuery));
  const cronFixes = [
    ...claimFixes,
    ...(inSrc(placementIndexOrder, placementQuery) ? [] : [placementIndexOrder]),
  ];
  const already = [callSidFastPath, doNotCallHead]
    .filter((each) => inSrc(each, claimQuery))
    .concat(inSrc(placementIndexOrder, placementQuery) ? [placementIndexOrder] : [])
    .map((each) => each.key);
  if (already.length > 0) log(`already in src/, not applied: ${already.join(", ")}`);
  const label = (fixes: Rewrite[]) =>
    [
      already.length > 0 ? `(${already.join("")} in src)` : "",
      fixes.length > 0 ? `+${fixes.map((each) => each.key).join("+")}` : "",
    ]
      .filter(Boolean)
      .join(" ");

  if (claimFixes.includes(callSidFastPath) && claimFixes.length > 1) {
    await variant("claim", label([callSidFastPath]), [callSidFastPath]);
  }
  if (claimFixes.length > 0) await variant("claim", label(claimFixes), claimFixes);
  await variant("claim", `${label(claimFixes)} without duplicate call_sid indexes`, claimFixes, {
    setup: DROP_DUPLICATE_CALL_SID_INDEXES,
  });
  if (cronFixes.length > 0) {
    await variant("cron-idle", label(cronFixes), cronFixes, {
      expect: cronFixes.filter((each) => each !== callSidFastPath).map((each) => each.key),
    });
  }
  if (cronFixes.includes(placementIndexOrder)) {
    await variant("placement", label([placementIndexOrder]), [placementIndexOrder]);
    await variant("placement-closed", label([placementIndexOrder]), [placementIndexOrder]);
  }

  const driverIndex = await transport.pg.query(
    "SELECT 1 FROM pg_indexes WHERE indexname = 'idx_calls_driver_id_created_at_id'",
  );
  if ((driverIndex.rowCount ?? 0) > 0) {
    log("D: idx_calls_driver_id_created_at_id exists already (a migration made it): not measured");
  } else {
    log(`building: ${DRIVER_INDEX_SQL}`);
    const started = performance.now();
    await transport.pg.query(DRIVER_INDEX_SQL);
    await transport.pg.query("ANALYZE calls");
    log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await variant("calls-driver", "+D", []);
  }

  // C2 last (it adds an index the other measures would then see), and only for a statement
  // that orders by the id tie-break the index has.
  if (
    !/ORDER BY coalesce\(t\.window_ends_at, '-infinity'::timestamptz\), t\.id/.test(placementQuery)
  ) {
    return results;
  }
  log(`building: ${PLACE_INDEX_WITH_ID_SQL}`);
  const placeStarted = performance.now();
  await transport.pg.query(PLACE_INDEX_WITH_ID_SQL);
  await transport.pg.query("ANALYZE campaign_targets");
  log(`built in ${((performance.now() - placeStarted) / 1000).toFixed(1)} s`);
  await variant("placement-closed", "+C2 (index with id, statement as in src)", []);
  await variant("cron-idle", "+C2 (index with id, statement as in src)", []);
  return results;
}
