// Request and response schemas of the operator API (/calls*). The same zod schemas
// validate requests and generate the OpenAPI document.
import { z } from "@hono/zod-openapi";
import { CALL_STATUSES } from "../db/schema";
import { isoInstant, storableText } from "../http/schemas";

export const MAX_DRIVERS_PER_BATCH = 100;
export const E164 = /^\+[1-9]\d{6,14}$/;

export const violationSchema = z.object({
  code: storableText(1, 64).openapi({ example: "HOS_11H" }),
  description: storableText(1, 500).openapi({ example: "Exceeded the 11-hour driving limit" }),
  occurred_at: isoInstant,
});

export const driverSchema = z.object({
  driver_id: z.number().int().min(1).max(2_147_483_647).openapi({ example: 1042 }),
  phone_number: z
    .string()
    .regex(E164, "must be an E.164 phone number such as +15551230042")
    .openapi({ example: "+15551230042" }),
  driver_name: storableText(1, 200).openapi({ example: "Ana Ruiz" }),
  violations: z.array(violationSchema).min(1).max(50),
});

/** The same driver twice in one request is a 400 naming the second entry. */
export function refuseRepeatedDrivers(what: "batch" | "campaign") {
  return (drivers: readonly { driver_id: number }[], ctx: z.RefinementCtx) => {
    const seen = new Map<number, number>();
    drivers.forEach((driver, index) => {
      const first = seen.get(driver.driver_id);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [index, "driver_id"],
          message: `driver ${driver.driver_id} appears twice in the ${what} (also at drivers.${first})`,
        });
      } else {
        seen.set(driver.driver_id, index);
      }
    });
  };
}

export const batchRequestSchema = z
  .object({
    drivers: z
      .array(driverSchema)
      .min(1)
      .max(MAX_DRIVERS_PER_BATCH)
      .superRefine(refuseRepeatedDrivers("batch")),
  })
  .openapi("BatchCallRequest");

const callResultSchema = z.object({
  driver_id: z.number().int(),
  call_sid: z.string(),
  conversation_id: z.string().nullable(),
  status: z.enum(["IN_PROGRESS", "FAILED"]),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const batchResponseSchema = z
  .object({
    results: z.array(callResultSchema),
    summary: z.object({
      requested: z.number().int(),
      started: z.number().int(),
      failed: z.number().int(),
    }),
  })
  .openapi("BatchCallResponse");

export const callSchema = z
  .object({
    call_sid: z.string(),
    driver_id: z.number().int().nullable(),
    conversation_id: z.string().nullable(),
    status: z.enum(CALL_STATUSES),
    call_start_time: z.string().nullable(),
    call_end_time: z.string().nullable(),
    failure_reason: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Call");
