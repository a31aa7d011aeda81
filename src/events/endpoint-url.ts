// Which URLs events may be sent to. A fleet registers its own endpoint; nobody may point the
// service at something only the service can reach (its own host, a metadata address, a
// private network): that is how a webhook sender becomes a way into a network (SSRF).
//
// Checked here, on the URL as written: the scheme (https), no credentials in it, and the
// host: no IP address in a private, loopback, link-local, shared, multicast or reserved
// range (IPv4, IPv6, IPv4-mapped and NAT64 IPv6; the URL parser has already turned
// decimal, hex and octal IPv4 forms into dotted quads), and no name that is local by
// definition (localhost, *.localhost, *.local, *.internal, a name without a dot). Not
// checked: what a public name resolves to at send time (Workers have no DNS lookup before
// fetch). From Cloudflare's edge a Worker cannot reach a private network anyway; the check
// is the rule written down, and the first line of defence where that ever changes.
//
// The one exception, for `npm run dev` and the tests only (ALLOW_LOCAL_EVENT_ENDPOINTS):
// http(s)://127.0.0.1 and http(s)://localhost on any port.

export type UrlVerdict = { ok: true; url: string } | { ok: false; reason: string };

const MAX_URL_LENGTH = 2048;

export function checkEndpointUrl(raw: string, options: { allowLocal: boolean }): UrlVerdict {
  if (raw.length > MAX_URL_LENGTH) return refuse(`must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse("is not a URL");
  }
  if (url.username || url.password) return refuse("must not carry a user name or password");
  const host = url.hostname.toLowerCase();
  if (options.allowLocal && (host === "127.0.0.1" || host === "localhost")) {
    if (url.protocol === "http:" || url.protocol === "https:") return { ok: true, url: url.href };
  }
  if (url.protocol !== "https:") return refuse("must be an https:// URL");
  if (host === "") return refuse("has no host");
  const ipv4 = parseIpv4(host);
  if (ipv4) {
    return isPublicIpv4(ipv4) ? { ok: true, url: url.href } : refuse(notPublic(host));
  }
  if (host.startsWith("[")) {
    const ipv6 = parseIpv6(host.slice(1, -1));
    if (!ipv6) return refuse("has an IPv6 address that cannot be read");
    return isPublicIpv6(ipv6) ? { ok: true, url: url.href } : refuse(notPublic(host));
  }
  const name = host.replace(/\.$/, "");
  if (
    name === "localhost" ||
    /\.(localhost|local|internal|home\.arpa|localdomain)$/.test(name) ||
    !name.includes(".")
  ) {
    return refuse(`must name a public host, not ${name}`);
  }
  return { ok: true, url: url.href };
}

function refuse(reason: string): UrlVerdict {
  return { ok: false, reason };
}

function notPublic(host: string): string {
  return `must not be a private, loopback, link-local or reserved address (${host})`;
}

/** Four octets of a dotted quad (as the URL parser writes every IPv4 host), or null. */
function parseIpv4(host: string): number[] | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!match) return null;
  const octets = match.slice(1).map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

function isPublicIpv4([a = 0, b = 0, c = 0]: number[]): boolean {
  if (a === 0 || a === 10 || a === 127) return false; // this network, private, loopback
  if (a === 100 && b >= 64 && b <= 127) return false; // shared address space (CGNAT)
  if (a === 169 && b === 254) return false; // link-local (cloud metadata lives here)
  if (a === 172 && b >= 16 && b <= 31) return false; // private
  if (a === 192 && b === 168) return false; // private
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return false; // IETF protocol, TEST-NET-1
  if (a === 198 && (b === 18 || b === 19)) return false; // benchmarking
  if (a === 198 && b === 51 && c === 100) return false; // TEST-NET-2
  if (a === 203 && b === 0 && c === 113) return false; // TEST-NET-3
  if (a >= 224) return false; // multicast, reserved, broadcast
  return true;
}

/** Eight 16-bit groups, or null. */
function parseIpv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const head = groups(halves[0] ?? "");
  const tail = halves.length === 2 ? groups(halves[1] ?? "") : [];
  const parse = (parts: string[]) =>
    parts.flatMap((part) => {
      const v4 = parseIpv4(part);
      if (v4) return [((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0)];
      return /^[0-9a-f]{1,4}$/.test(part) ? [Number.parseInt(part, 16)] : [Number.NaN];
    });
  const left = parse(head);
  const right = parse(tail);
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...left, ...Array(Math.max(0, missing)).fill(0), ...right];
  return all.length === 8 && all.every((group) => Number.isInteger(group)) ? all : null;
}

function isPublicIpv6(groups: number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  const embeddedV4 = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  if (groups.every((group) => group === 0)) return false; // unspecified
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && g6 === 0 && g7 === 1)
    return false; // loopback
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): the IPv4 address decides.
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && (g5 === 0xffff || g5 === 0))
    return isPublicIpv4(embeddedV4);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return isPublicIpv4(embeddedV4); // NAT64
  if ((g0 & 0xfe00) === 0xfc00) return false; // unique local
  if ((g0 & 0xffc0) === 0xfe80) return false; // link-local
  if ((g0 & 0xff00) === 0xff00) return false; // multicast
  if (g0 === 0x2001 && g1 === 0x0db8) return false; // documentation
  return true;
}
