// The console's do-not-call page through the Worker: removing a number asks first and needs
// a reason, which the audit trail keeps; a driver's own opt-out says so on that page; the
// list is searched by part of a number.
import { describe, expect, it } from "vitest";
import { signInToConsole, textOf, titleOf } from "../support/console";
import { type Lab, newLab } from "../support/dispatch";

async function listed(lab: Lab, phoneNumber: string): Promise<boolean> {
  const rows = (await lab.sql.query("SELECT 1 FROM do_not_call WHERE phone_number = $1", [
    phoneNumber,
  ])) as unknown[];
  return rows.length === 1;
}

describe("removing a number from the do-not-call list", () => {
  it("asks first, refuses without a reason (422, still listed), and removes it with one", async () => {
    const lab = await newLab();
    const client = await signInToConsole(lab);
    await lab.sql.query(
      "INSERT INTO do_not_call (phone_number, reason) VALUES ('+15551230042', 'asked by email')",
    );

    // The list's button is a link to the question, not the removal.
    const list = await (await client.get("/console/do-not-call")).text();
    expect(list).toContain(
      '<form method="get" action="/console/do-not-call/remove"><input type="hidden" name="phone_number" value="+15551230042">',
    );
    const question = await client.get("/console/do-not-call/remove?phone_number=%2B15551230042");
    const html = await question.text();
    expect(question.status).toBe(200);
    expect(titleOf(html)).toBe(
      "Remove +15551230042 from the do-not-call list? · driver-calls console",
    );
    expect(textOf(html)).toContain("Reason it was added asked by email");
    expect(html).toMatch(/<input type="text" id="removal-reason" name="reason" value="" required/);
    expect(await listed(lab, "+15551230042")).toBe(true);

    const withoutReason = await client.post(
      "/console/do-not-call/remove",
      new URLSearchParams({ phone_number: "+15551230042", reason: "   " }),
    );
    expect(withoutReason.status).toBe(422);
    expect(textOf(await withoutReason.text())).toContain(
      "Reason: say why this number may be called again",
    );
    expect(await listed(lab, "+15551230042")).toBe(true);

    const removed = await client.post(
      "/console/do-not-call/remove",
      new URLSearchParams({
        phone_number: "+15551230042",
        reason: "Driver called the office to ask",
      }),
    );
    expect(removed.status).toBe(303);
    expect(removed.headers.get("location")).toBe("/console/do-not-call?removed=%2B15551230042");
    expect(await listed(lab, "+15551230042")).toBe(false);
    // The reason is kept, with who removed the number, in the audit trail.
    const audited = (await lab.sql.query(
      "SELECT actor_kind, actor_name, subject_id, detail FROM audit_events WHERE action = 'do_not_call.removed'",
    )) as {
      actor_kind: string;
      actor_name: string;
      subject_id: string;
      detail: Record<string, unknown>;
    }[];
    expect(audited).toEqual([
      {
        actor_kind: "operator",
        actor_name: client.operator.name,
        subject_id: "+15551230042",
        detail: expect.objectContaining({
          reason: "Driver called the office to ask",
          entry_reason: "asked by email",
        }),
      },
    ]);
    // Asked again once it is gone: back to the list.
    const gone = await client.get("/console/do-not-call/remove?phone_number=%2B15551230042");
    expect(gone.status).toBe(303);
  });

  it("says when the driver asked on a call, with the call, on the list and on the question", async () => {
    const lab = await newLab();
    const client = await signInToConsole(lab);
    await lab.sql.query(
      "INSERT INTO do_not_call (phone_number, reason, call_sid) VALUES ('+15551230499', 'opt_out', 'EL_1042_1764000000')",
    );
    const list = textOf(await (await client.get("/console/do-not-call")).text());
    expect(list).toContain(
      "+15551230499 Remove +15551230499 The driver asked on a call not to be called again (opt_out)",
    );
    const question = textOf(
      await (await client.get("/console/do-not-call/remove?phone_number=%2B15551230499")).text(),
    );
    expect(question).toContain(
      "The driver asked not to be called This number is on the list because the driver said so on a call ( EL_1042_1764000000 ). Remove it only if the driver has since asked to be called again.",
    );
  });
});

describe("searching the list by number", () => {
  it("finds numbers by any part of their digits, written as people write them", async () => {
    const lab = await newLab();
    const client = await signInToConsole(lab);
    await lab.sql.query(
      "INSERT INTO do_not_call (phone_number) VALUES ('+15551230042'), ('+15551230043'), ('+15559870042')",
    );
    const numbersFor = async (query: string) => {
      const html = await (
        await client.get(`/console/do-not-call?q=${encodeURIComponent(query)}`)
      ).text();
      return [...html.matchAll(/<td class="nowrap mono">([^<]+)<\/td>/g)]
        .map((match) => match[1])
        .sort();
    };
    expect(await numbersFor("0042")).toEqual(["+15551230042", "+15559870042"]);
    expect(await numbersFor("(555) 123-00")).toEqual(["+15551230042", "+15551230043"]);
    expect(await numbersFor("")).toHaveLength(3);
    expect(await numbersFor("777")).toEqual([]);
    const none = textOf(await (await client.get("/console/do-not-call?q=777")).text());
    expect(none).toContain("No number on the list contains 777.");
    // The search field keeps what was searched.
    const page = await (await client.get("/console/do-not-call?q=0042")).text();
    expect(page).toMatch(/<label for="search">Search by number<\/label>/);
    expect(page).toMatch(/id="search" name="q" value="0042"/);
  });
});
