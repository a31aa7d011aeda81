-- Gives every legacy call a call_sid: EL_{driver_id or UNKNOWN}_{unix seconds of
-- created_at}. Rows that would share a value get a suffix in id order: the lowest id
-- keeps the bare value, the next gets _2, then _3, ...
--
-- Why 0003's unique constraint cannot fail afterwards:
-- * A base value has exactly three underscore-separated parts, EL_<driver>_<seconds>
--   (<driver> is an integer or UNKNOWN, <seconds> an integer; neither contains "_"),
--   and a suffixed value has exactly four, EL_<driver>_<seconds>_<n>. So a value names
--   its base unambiguously: EL_5_100_2 can only be base EL_5_100 with suffix 2, never
--   the bare base of another row. Different bases therefore never produce equal values.
-- * Within one base, the k-th row (by id) gets the k-th free candidate of the list
--   base, base_2, base_3, ...: distinct rows, distinct candidates.
-- * Rerun safety: only rows whose call_sid IS NULL are filled, and a candidate that is
--   already taken by some row is skipped. A base has at most as many taken candidates
--   as there are existing call_sids that parse to that base (counted in "taken"), so
--   generating (rows to fill + taken) candidates always leaves enough free ones.
--
-- Writers are blocked (readers are not) until the migration's transaction ends, so no
-- row without a call_sid can slip in between this backfill and 0003's NOT NULL.
LOCK TABLE "calls" IN SHARE ROW EXCLUSIVE MODE;
--> statement-breakpoint
DO $$
DECLARE
	filled bigint;
BEGIN
	WITH pending AS (
		SELECT
			"id",
			'EL_' || coalesce("driver_id"::text, 'UNKNOWN') || '_'
				|| floor(extract(epoch FROM "created_at"))::bigint::text AS base
		FROM "calls"
		WHERE "call_sid" IS NULL
	),
	ranked AS (
		SELECT "id", base, row_number() OVER (PARTITION BY base ORDER BY "id") AS k
		FROM pending
	),
	groups AS (
		SELECT base, count(*) AS wanted FROM pending GROUP BY base
	),
	taken AS (
		SELECT substring("call_sid" FROM '^(EL_[^_]+_[^_]+)(?:_[0-9]+)?$') AS base, count(*) AS used
		FROM "calls"
		WHERE "call_sid" IS NOT NULL
		GROUP BY 1
	),
	free AS (
		SELECT g.base, c.value, row_number() OVER (PARTITION BY g.base ORDER BY c.n) AS k
		FROM groups g
		LEFT JOIN taken t ON t.base = g.base
		CROSS JOIN LATERAL (
			SELECT n, CASE WHEN n = 1 THEN g.base ELSE g.base || '_' || n END AS value
			FROM generate_series(1, g.wanted + coalesce(t.used, 0)) AS n
		) c
		WHERE NOT EXISTS (SELECT 1 FROM "calls" x WHERE x."call_sid" = c.value)
	)
	UPDATE "calls"
	SET "call_sid" = f.value
	FROM ranked r
	JOIN free f ON f.base = r.base AND f.k = r.k
	WHERE "calls"."id" = r."id";

	GET DIAGNOSTICS filled = ROW_COUNT;
	RAISE NOTICE 'backfilled % calls with a call_sid', filled;
END $$;
