-- Forgets every call_sid. Only reachable after 0003 is rolled back (no NOT NULL left);
-- rolling 0002 forward again recomputes the same values for the legacy rows.
UPDATE "calls" SET "call_sid" = NULL;
