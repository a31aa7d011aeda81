// The Worker's log lines as a test sees them: the real logger writes one JSON object per
// line to console.log; this captures them (restore with vi.restoreAllMocks()).
import { vi } from "vitest";

export function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    lines.push(JSON.parse(String(line)) as Record<string, unknown>);
  });
  return { lines, events: (name: string) => lines.filter((line) => line.event === name) };
}
