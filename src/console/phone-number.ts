// Phone numbers as people write them in a spreadsheet: `(555) 123-4567`, `555-123-4567`,
// `1 555 123 4567`, `+1 555 123 4567`, read into E.164 (`+15551234567`), the only form
// the API and the dispatcher take. The console's drivers file is the one place that reads
// them; POST /campaigns and /calls/batch keep requiring E.164.
//
// Read with libphonenumber-js and its `min` metadata (lengths and national prefixes of
// every country, without the per-range detail that `max` carries for telling a mobile from
// a landline). A number only has to be *possible* (the right length for its country), not
// *valid* (in a range a carrier has been assigned): validity would refuse the +1 555
// numbers of the examples and tests, and a carrier's ranges change more often than this
// service is deployed. A number the Worker cannot dial shows up as a failed call anyway.
import {
  type CountryCode,
  getCountries,
  isSupportedCountry,
  parsePhoneNumberFromString,
} from "libphonenumber-js/min";

export const DEFAULT_PHONE_COUNTRY = "US";

/** The ISO 3166 codes libphonenumber-js knows, for the form's suggestions. */
export function phoneCountries(): readonly string[] {
  return getCountries();
}

/** An ISO code the reader knows ("us" is read as "US"), or null. */
export function phoneCountryOf(text: string): CountryCode | null {
  const code = text.trim().toUpperCase();
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code) ? code : null;
}

export type PhoneNumberReading = { ok: true; e164: string } | { ok: false; message: string };

/**
 * Reads one cell. A number that starts with `+` carries its own country; any other is read
 * as a number of `country` (null: the form's country is not usable, so only `+` numbers
 * can be read).
 */
export function readPhoneNumber(text: string, country: CountryCode | null): PhoneNumberReading {
  const international = text.trimStart().startsWith("+");
  if (!international && country === null) {
    return {
      ok: false,
      message:
        "has no + and country code, and the form's Country for numbers without + is not a country code",
    };
  }
  const parsed = parsePhoneNumberFromString(
    text,
    international ? undefined : (country ?? undefined),
  );
  if (!parsed) {
    return {
      ok: false,
      message: "is not a phone number: write it as (555) 123-4567 or +15551234567",
    };
  }
  if (parsed.ext) {
    return { ok: false, message: "has an extension, which a call cannot dial" };
  }
  if (!parsed.isPossible()) {
    return {
      ok: false,
      message: international
        ? `has the wrong number of digits for country code +${parsed.countryCallingCode}`
        : `has the wrong number of digits for a ${country} number`,
    };
  }
  return { ok: true, e164: parsed.number };
}
