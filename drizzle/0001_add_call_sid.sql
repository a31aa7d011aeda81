-- Our own call id, known before ElevenLabs is called. Nullable for now: 0002 fills the
-- existing rows and 0003 makes it NOT NULL and unique.
ALTER TABLE "calls" ADD COLUMN "call_sid" varchar(255);
