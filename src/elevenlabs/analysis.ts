// What ElevenLabs' post-call analysis says about a call, read leniently. The analysis
// arrives with every post_call_transcription (and in GET /v1/convai/conversations/{id});
// its shape depends on how the agent is configured and has grown over time, so nothing in
// it may turn a delivery into a 4xx (ElevenLabs disables a webhook that keeps failing):
// what is understood is kept, what is not is dropped, what is too big is cut and logged.
//
// Documented shapes handled here:
//   analysis: missing, null, or {call_successful, transcript_summary, call_summary_title,
//     data_collection_results, evaluation_criteria_results, ...newer fields}
//   call_successful: "success" | "failure" | "unknown" (anything else: "unknown")
//   data_collection_results: {<id>: {data_collection_id, value: <any JSON or null>,
//     json_schema, rationale}}; newer SDKs also send a `*_list` array of the same items
//   evaluation_criteria_results: {<id>: {criteria_id, result, rationale}} (and `*_list`)
//   metadata.termination_reason: free text, e.g. "end_call tool was called."
// Voicemail is recognised by any of: the termination reason naming voicemail, a transcript
// tool result of type voicemail_detection_success (ElevenLabs puts it in the system tool
// result's `result.result_type`), metadata.features_usage.voicemail_detection.used, or
// metadata.phone_call.call_result "voicemail".

import type { CallAnalysis, CallSuccessful } from "../calls/report";

export const ANALYSIS_LIMITS = {
  summaryChars: 4_000,
  terminationReasonChars: 500,
  /** A data-collection value whose JSON is longer is cut (strings) or stored as cut JSON text. */
  valueChars: 2_000,
  /** At most this many data-collection and evaluation ids each. */
  entries: 100,
  idChars: 100,
} as const;

export interface AnalysisReading {
  analysis: CallAnalysis;
  /** Whether the call was answered by a voicemail system. */
  voicemail: boolean;
  /** Whether the driver asked not to be called again (data collection `opt_out` is true). */
  optOut: boolean;
  /** What was cut to fit, for a log line. */
  cut: string[];
}

const OUTCOMES = new Set<CallSuccessful>(["success", "failure", "unknown"]);

export function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** Text Postgres can store (no NUL, well-formed), at most `max` characters. */
export function storable(text: string, max: number): { text: string; cut: boolean } {
  let clean = text.replaceAll("\u0000", "");
  if (!clean.isWellFormed()) clean = clean.toWellFormed();
  if (clean.length <= max) return { text: clean, cut: false };
  // Do not split a surrogate pair at the cut.
  return { text: clean.slice(0, max - 1).toWellFormed(), cut: true };
}

function outcome(value: unknown): CallSuccessful | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" && OUTCOMES.has(value as CallSuccessful)
    ? (value as CallSuccessful)
    : "unknown";
}

/** The items of `results` (an {id: item} map) and of `list` (an array of items). */
function entries(results: unknown, list: unknown, idField: string): [string, unknown][] {
  const found = new Map<string, unknown>();
  for (const [id, item] of Object.entries(asObject(results) ?? {})) found.set(id, item);
  if (Array.isArray(list)) {
    for (const item of list) {
      const id = asObject(item)?.[idField];
      if (typeof id === "string" && !found.has(id)) found.set(id, item);
    }
  }
  return [...found.entries()];
}

/** A JSON value made storable: strings cleaned and cut; big values cut as JSON text. */
function storableValue(value: unknown, cut: () => void): unknown {
  if (typeof value === "string") {
    const result = storable(value, ANALYSIS_LIMITS.valueChars);
    if (result.cut) cut();
    return result.text;
  }
  const json = JSON.stringify(value ?? null);
  if (json.length > ANALYSIS_LIMITS.valueChars || json.includes("\\u0000")) {
    cut();
    return storable(json.replaceAll("\\u0000", ""), ANALYSIS_LIMITS.valueChars).text;
  }
  return value ?? null;
}

function isTrue(value: unknown): boolean {
  return value === true || (typeof value === "string" && /^(true|yes)$/i.test(value.trim()));
}

/** Reads `data` of a post_call_transcription (or a GET conversation body). Never throws. */
export function readAnalysis(data: unknown): AnalysisReading {
  const cuts: string[] = [];
  const root = asObject(data) ?? {};
  const analysis = asObject(root.analysis);
  const metadata = asObject(root.metadata);

  let summary: string | null = null;
  if (typeof analysis?.transcript_summary === "string") {
    const result = storable(analysis.transcript_summary, ANALYSIS_LIMITS.summaryChars);
    if (result.cut) cuts.push("transcript_summary");
    summary = result.text;
  }

  let terminationReason: string | null = null;
  if (typeof metadata?.termination_reason === "string") {
    const result = storable(metadata.termination_reason, ANALYSIS_LIMITS.terminationReasonChars);
    if (result.cut) cuts.push("termination_reason");
    terminationReason = result.text;
  }

  let dataCollection: Record<string, unknown> | null = null;
  const collected = entries(
    analysis?.data_collection_results,
    analysis?.data_collection_results_list,
    "data_collection_id",
  );
  if (collected.length > 0) {
    dataCollection = {};
    for (const [id, item] of collected.slice(0, ANALYSIS_LIMITS.entries)) {
      const key = storable(id, ANALYSIS_LIMITS.idChars).text;
      const itemObject = asObject(item);
      // {value, rationale, ...} as documented; a bare value is taken as the value itself.
      const value = itemObject && "value" in itemObject ? itemObject.value : item;
      dataCollection[key] = storableValue(value, () => cuts.push(`data_collection.${key}`));
    }
    if (collected.length > ANALYSIS_LIMITS.entries) cuts.push("data_collection (entries)");
  }

  let evaluation: Record<string, CallSuccessful> | null = null;
  const evaluated = entries(
    analysis?.evaluation_criteria_results,
    analysis?.evaluation_criteria_results_list,
    "criteria_id",
  );
  if (evaluated.length > 0) {
    evaluation = {};
    for (const [id, item] of evaluated.slice(0, ANALYSIS_LIMITS.entries)) {
      const itemObject = asObject(item);
      const result = itemObject && "result" in itemObject ? itemObject.result : item;
      evaluation[storable(id, ANALYSIS_LIMITS.idChars).text] = outcome(result) ?? "unknown";
    }
    if (evaluated.length > ANALYSIS_LIMITS.entries) cuts.push("evaluation (entries)");
  }

  return {
    analysis: {
      callSuccessful: outcome(analysis?.call_successful),
      summary,
      dataCollection,
      evaluation,
      terminationReason,
    },
    voicemail: answeredByVoicemail(root, terminationReason),
    optOut: isTrue(dataCollection?.opt_out),
    cut: cuts,
  };
}

const VOICEMAIL_DETECTED = "voicemail_detection_success";

function answeredByVoicemail(root: Record<string, unknown>, terminationReason: string | null) {
  if (terminationReason !== null && /voicemail/i.test(terminationReason)) return true;
  const metadata = asObject(root.metadata);
  if (asObject(asObject(metadata?.features_usage)?.voicemail_detection)?.used === true) return true;
  if (asObject(metadata?.phone_call)?.call_result === "voicemail") return true;
  const transcript = Array.isArray(root.transcript) ? root.transcript : [];
  return transcript.some((turn) => {
    const results = asObject(turn)?.tool_results;
    return (
      Array.isArray(results) &&
      results.some((item) => {
        const result = asObject(item);
        return (
          result?.result_type === VOICEMAIL_DETECTED ||
          asObject(result?.result)?.result_type === VOICEMAIL_DETECTED
        );
      })
    );
  });
}
