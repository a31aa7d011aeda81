// One measurement of `npm run bench:csv`, in a process of its own (so that nothing else
// is on its heap): reads a drivers file, then parses and validates it as the console's
// form does (parse, then the API's schema). Run with --expose-gc --trace-gc: the parent
// reads the heap's peak from V8's GC trace (the heap is largest just before a collection
// or at the end) and this prints one JSON line with the rest.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

interface FormModule {
  defaultFormValues(): Record<string, unknown>;
  campaignRequestFrom(values: unknown, csv: unknown): { ok: boolean };
  parseDriversFile?: (values: unknown, file: Uint8Array) => unknown;
  parseDriversCsv(file: Uint8Array): unknown;
}

const [bundle, file] = process.argv.slice(2);
if (!bundle || !file) throw new Error("usage: csv-parse-child.ts <bundle.mjs> <file.csv>");
const form = (await import(pathToFileURL(bundle).href)) as FormModule;
const bytes = new Uint8Array(readFileSync(file));
const values = { ...form.defaultFormValues(), name: "Bench", time_zone: "America/Chicago" };
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

// Warm up the modules (zod compiles its schemas on first use) on a small file, so that
// what is measured is the file, not the first call.
const warmUp = new TextEncoder().encode(
  "driver_id,phone_number,driver_name,time_zone,violation_code,violation_description,violation_occurred_at\n1,+15551230001,A,,X,Y,2026-11-20T14:05:00Z\n",
);
form.campaignRequestFrom(
  values,
  (form.parseDriversFile ?? ((_v, f) => form.parseDriversCsv(f)))(values, warmUp),
);
gc();
gc();
const before = process.memoryUsage();
console.log("MARK start");
const started = performance.now();
const csv = form.parseDriversFile
  ? form.parseDriversFile(values, bytes)
  : form.parseDriversCsv(bytes);
const result = form.campaignRequestFrom(values, csv);
const ms = performance.now() - started;
const atEnd = process.memoryUsage();
console.log("MARK end");
gc();
const retained = process.memoryUsage();
console.log(
  JSON.stringify({
    ok: result.ok,
    ms,
    heapBefore: before.heapUsed,
    heapAtEnd: atEnd.heapUsed,
    heapRetained: retained.heapUsed,
    arrayBuffers: atEnd.arrayBuffers,
  }),
);
// Keep the result alive until after the last reading.
if (!csv) process.exit(2);
