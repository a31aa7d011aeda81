// The drivers file, carried from page to page in a hidden form field, so that an operator
// uploads it once: the review page's `Start campaign` and `Back` send it on, and the form
// keeps it while only its other fields need fixing (a browser never sends a file input
// twice, and a page cannot fill one in).
//
// Why the file and not the parsed request: whatever comes back is read again by the same
// parser and the same schema as a fresh upload (an edited field can only produce what an
// upload could), and its size has a hard bound: gzip never grows 5 MiB by more than a few
// KiB, and base64 adds a third, so the field stays under MAX_CARRIED_FILE_CHARS whatever
// the file holds (JSON of the parsed request can grow six-fold on control characters).
// Base64 because a form field's line breaks are rewritten by the browser (LF to CRLF),
// which would change cells that hold one. Typical files shrink five- to ten-fold.
import { MAX_CSV_BYTES } from "./drivers-csv";

/** Gzip's worst case on 5 MiB (stored blocks: 5 bytes per 64 KiB, and its frame), rounded up. */
const GZIP_SLACK_BYTES = 16 * 1024;
export const MAX_CARRIED_FILE_CHARS = Math.ceil((MAX_CSV_BYTES + GZIP_SLACK_BYTES) / 3) * 4;

/** The file as the hidden field carries it: gzip, then base64. */
export async function packFile(bytes: Uint8Array): Promise<string> {
  const compressed = await new Response(
    new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip")),
  ).arrayBuffer();
  return toBase64(new Uint8Array(compressed));
}

/**
 * The file back from the hidden field; null when the field is not what packFile wrote or
 * would unpack to more than MAX_CSV_BYTES (it is read chunk by chunk and dropped past the
 * limit, so a small field that inflates to gigabytes costs nothing).
 */
export async function unpackFile(text: string): Promise<Uint8Array | null> {
  if (text.length === 0 || text.length > MAX_CARRIED_FILE_CHARS) return null;
  const compressed = fromBase64(text);
  if (!compressed) return null;
  const reader = new Blob([compressed])
    .stream()
    .pipeThrough(new DecompressionStream("gzip"))
    .getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_CSV_BYTES) {
        await reader.cancel();
        return null;
      }
      chunks.push(value);
    }
  } catch {
    return null;
  }
  const file = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    file.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return file;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  // String.fromCharCode takes its arguments on the stack: 32 Ki at a time.
  for (let at = 0; at < bytes.length; at += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array | null {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let at = 0; at < binary.length; at++) bytes[at] = binary.charCodeAt(at);
  return bytes;
}
