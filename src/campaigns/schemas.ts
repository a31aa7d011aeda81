// Request and response schemas of /campaigns. The same zod schemas validate requests and
// generate the OpenAPI document; the calling rules (zones, windows) are the ones of
// src/calling-rules/, so what is accepted here is exactly what the dispatcher can honour.
import { z } from "@hono/zod-openapi";
import { fixedOffsetZonePlace, isValidTimeZone } from "../calling-rules/time-zone";
import { parseCallingWindow } from "../calling-rules/window";
import { driverSchema, refuseRepeatedDrivers } from "../calls/schemas";
import { CAMPAIGN_STATUSES, RETRYABLE_ENDINGS, TARGET_STATUSES, WAITING_FOR } from "../db/schema";
import { isoInstant, storableText } from "../http/schemas";

export const MAX_DRIVERS_PER_CAMPAIGN = 10_000;

export const timeZoneSchema = z
  .string()
  .max(64)
  .refine(isValidTimeZone, "must be an IANA time zone such as America/Chicago")
  .superRefine((name, ctx) => {
    const place = isValidTimeZone(name) ? fixedOffsetZonePlace(name) : null;
    if (place !== null) {
      ctx.addIssue({
        code: "custom",
        message: `${name} is a fixed offset that never changes for daylight saving, while the clocks people call by it do: name the place instead, e.g. ${place} (UTC is accepted)`,
      });
    }
  })
  .openapi({
    example: "America/Chicago",
    description:
      "An IANA time zone named by a place (America/Chicago). Fixed-offset names that hide daylight saving (EST, MST, HST, GMT, Etc/...) are refused; UTC is accepted.",
  });

export const callingWindowSchema = z
  .object({
    start: z.string().openapi({ example: "08:00" }),
    end: z.string().openapi({ example: "21:00" }),
    days: z
      .array(z.string())
      .max(7)
      .optional()
      .openapi({ example: ["mon", "tue", "wed", "thu", "fri", "sat"] }),
  })
  .superRefine((wire, ctx) => {
    const parsed = parseCallingWindow(wire);
    if (!parsed.ok) {
      for (const issue of parsed.issues) {
        ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
      }
    }
  })
  .openapi("CallingWindow", {
    description:
      "Local times in each driver's own zone, start before end (no window across midnight); days default to every day.",
  });

export const retrySchema = z
  .object({
    max_attempts: z.number().int().min(1).max(5).default(3),
    backoff_minutes: z.number().int().min(1).max(1440).default(60),
    on: z
      .array(z.enum(RETRYABLE_ENDINGS))
      .max(3)
      .default([...RETRYABLE_ENDINGS]),
  })
  .openapi("RetryRules", {
    description:
      "max_attempts counts the first call. Only these endings are retried; a call that may have rung (a timeout, an unreadable answer) never is.",
  });

const campaignDriverSchema = driverSchema.extend({ time_zone: timeZoneSchema.optional() });

export const createCampaignRequestSchema = z
  .object({
    name: storableText(1, 200).optional().openapi({ example: "HOS follow-up, week 48" }),
    time_zone: timeZoneSchema.optional(),
    calling_window: callingWindowSchema.default({ start: "08:00", end: "21:00" }),
    start_at: isoInstant.optional(),
    retry: retrySchema.default({
      max_attempts: 3,
      backoff_minutes: 60,
      on: [...RETRYABLE_ENDINGS],
    }),
    drivers: z
      .array(campaignDriverSchema)
      .min(1)
      .max(MAX_DRIVERS_PER_CAMPAIGN)
      .superRefine(refuseRepeatedDrivers("campaign")),
  })
  .superRefine((campaign, ctx) => {
    if (campaign.time_zone !== undefined) return;
    campaign.drivers.forEach((driver, index) => {
      if (driver.time_zone === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["drivers", index, "time_zone"],
          message:
            "the driver has no time zone and the campaign has no default time_zone: give one of them",
        });
      }
    });
  })
  .openapi("CreateCampaignRequest");

export type CreateCampaignRequest = z.infer<typeof createCampaignRequestSchema>;

export const campaignSchema = z
  .object({
    id: z.uuid(),
    name: z.string().nullable(),
    status: z.enum(CAMPAIGN_STATUSES),
    created_at: z.string(),
    start_at: z.string(),
    finished_at: z.string().nullable(),
    time_zone: z.string().nullable(),
    calling_window: z.object({
      start: z.string(),
      end: z.string(),
      days: z.array(z.string()),
    }),
    retry: z.object({
      max_attempts: z.number().int(),
      backoff_minutes: z.number().int(),
      on: z.array(z.string()),
    }),
    counts: z.object({
      total: z.number().int(),
      queued: z.number().int(),
      calling: z.number().int(),
      completed: z.number().int(),
      failed: z.number().int(),
      skipped: z.number().int(),
      cancelled: z.number().int(),
    }),
  })
  .openapi("Campaign");

export type CampaignView = z.infer<typeof campaignSchema>;

export const campaignTargetSchema = z
  .object({
    driver_id: z.number().int(),
    driver_name: z.string().nullable().openapi({
      description: "null once the driver's data was erased (POST /drivers/{driver_id}/erase).",
    }),
    phone_number: z
      .string()
      .nullable()
      .openapi({ description: "null once the driver's data was erased." }),
    time_zone: z.string(),
    status: z.enum(TARGET_STATUSES),
    waiting_for: z.enum(WAITING_FOR).nullable().openapi({
      description:
        "Only while QUEUED: start_at, calling_window (outside the driver's local window), retry (backoff after busy / no-answer / voicemail), slot (due, waiting for a free live-call slot) or number_in_call (due, but its phone number is in a live call from another campaign or a batch: one number, one live call).",
    }),
    next_attempt_at: z.string().nullable(),
    attempts: z.number().int(),
    call_sids: z.array(z.string()),
    last_failure_reason: z.string().nullable(),
    call_successful: z.enum(["success", "failure", "unknown"]).nullable().openapi({
      description: "The latest call's outcome from ElevenLabs' analysis (null until it has one).",
    }),
  })
  .openapi("CampaignTarget");

export type CampaignTargetView = z.infer<typeof campaignTargetSchema>;

// Any string: an id that is not a campaign's (malformed ones included) is a 404.
export const campaignIdParam = z.object({
  id: storableText(1, 100).openapi({
    param: { name: "id", in: "path" },
    example: "0193a1c2-7f00-4c3e-9d7e-3a1f0c2b4d5e",
  }),
});

export const cursorQuery = z
  .string()
  .min(1)
  .max(300)
  .optional()
  .openapi({ description: "next_cursor of the previous page" });
