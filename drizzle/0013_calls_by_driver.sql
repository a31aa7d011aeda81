-- migrate: no-transaction
-- 0013: GET /calls?driver_id= pages a driver's calls newest first, (created_at, id) DESC.
-- Without an index on driver_id it scanned the whole calls table: 131-190 ms at 2 million
-- calls (npm run bench:scale). This index serves the filter and the order together, so a
-- page reads its 51 rows and stops.
--
-- Built CONCURRENTLY on the live calls table (outside a transaction: see 0011).
SET lock_timeout = '3s';
--> statement-breakpoint
SET statement_timeout = '30min';
--> statement-breakpoint
CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_calls_driver_id_created_at_id" ON "calls" USING btree ("driver_id", "created_at" DESC, "id" DESC);
