// What the review page says about a validated campaign before it starts: how many drivers
// and violations, how many numbers the do-not-call list will skip, the time zones found,
// and when the first call can happen. Pure (the do-not-call numbers are looked up by the
// route), with the calling rules the dispatcher itself uses (calling-rules/window.ts): a
// driver is first dialed at the first opening of its window in its zone, not before
// start_at.
import { nextOpening, parseCallingWindow } from "../calling-rules/window";
import type { CreateCampaignRequest } from "../campaigns/schemas";

export interface ZoneFound {
  zone: string;
  /** Drivers in it, the do-not-call ones included. */
  drivers: number;
  /** Of them, without a time_zone of their own (the campaign's applies). */
  fromCampaign: number;
  /** The first opening of the window there (null: everyone there is on the list). */
  firstCallAt: Date | null;
}

export interface CampaignReview {
  drivers: number;
  violations: number;
  /** Drivers whose number is on the do-not-call list now: SKIPPED from the start. */
  onDoNotCall: number;
  /** Most drivers first. */
  zones: ZoneFound[];
  /** The first call of the campaign (null: nobody will be called), and its zone. */
  firstCall: { at: Date; zone: string } | null;
  /** When calling may begin: start_at, or now. */
  startsAt: Date;
}

export function reviewCampaign(
  request: CreateCampaignRequest,
  doNotCall: ReadonlySet<string>,
  now: Date,
): CampaignReview {
  const window = parseCallingWindow(request.calling_window);
  if (!window.ok) throw new Error("a validated campaign has a valid calling window");
  const startsAt = request.start_at ? new Date(request.start_at) : now;
  const notBefore = startsAt > now ? startsAt : now;

  const zones = new Map<string, ZoneFound & { callable: number }>();
  let violations = 0;
  let onDoNotCall = 0;
  for (const driver of request.drivers) {
    violations += driver.violations.length;
    const own = driver.time_zone !== undefined;
    // The schema refuses a driver with neither.
    const zone = (driver.time_zone ?? request.time_zone) as string;
    let found = zones.get(zone);
    if (!found) {
      found = { zone, drivers: 0, fromCampaign: 0, firstCallAt: null, callable: 0 };
      zones.set(zone, found);
    }
    found.drivers++;
    if (!own) found.fromCampaign++;
    if (doNotCall.has(driver.phone_number)) onDoNotCall++;
    else found.callable++;
  }

  let firstCall: CampaignReview["firstCall"] = null;
  for (const found of zones.values()) {
    if (found.callable === 0) continue;
    found.firstCallAt = nextOpening(window.window, found.zone, notBefore).opensAt;
    if (!firstCall || found.firstCallAt < firstCall.at) {
      firstCall = { at: found.firstCallAt, zone: found.zone };
    }
  }
  return {
    drivers: request.drivers.length,
    violations,
    onDoNotCall,
    zones: [...zones.values()]
      .map(({ callable: _callable, ...zone }) => zone)
      .sort((a, b) => b.drivers - a.drivers || a.zone.localeCompare(b.zone)),
    firstCall,
    startsAt,
  };
}
