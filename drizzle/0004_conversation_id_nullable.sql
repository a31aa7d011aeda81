-- A Call row is now written before ElevenLabs is asked to place the call, so it has no
-- conversation_id yet (and never gets one if the call could not be placed). The unique
-- constraint stays: Postgres treats NULLs as distinct, and the transcriptions' foreign
-- key needs it.
ALTER TABLE "calls" ALTER COLUMN "conversation_id" DROP NOT NULL;
