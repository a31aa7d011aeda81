ALTER TABLE "calls" DROP COLUMN "call_sid";
