// The console's stylesheet, served as /console/assets/console.css. No inline styles
// anywhere (the CSP has no 'unsafe-inline'): bar widths are SVG attributes, not styles.
// Readable type (16 px base, 1.5 line height), text colours at WCAG AA contrast or better,
// and nothing wider than the screen at 390 px: wide tables scroll inside their own box.
export const CONSOLE_STYLESHEET = `
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body {
  margin: 0;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 1rem;
  line-height: 1.5;
  color: #1f2328;
  background: #f6f8fa;
}
a { color: #0550ae; }
a:hover { color: #033d8b; }
:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 0.75rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 0.5rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 0.5rem; }
p { margin: 0.5rem 0; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }

/* Positioned boxes (.table-box) contain these: an absolute element escapes the overflow
   clip of an unpositioned scrolling box and would widen the page. */
.visually-hidden {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.skip-link { position: absolute; left: 0.5rem; top: -3rem; background: #fff; padding: 0.5rem 0.75rem; z-index: 10; }
.skip-link:focus { top: 0.5rem; }

.top {
  display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.25rem;
  padding: 0.6rem 1rem; background: #24292f; color: #fff;
}
.top a { color: #fff; }
.brand { font-weight: 700; text-decoration: none; margin-right: auto; }
.signed-in-as { font-size: 0.9rem; }
.top nav ul { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; list-style: none; margin: 0; padding: 0; }
.top nav a { text-decoration: none; border-bottom: 1px solid transparent; }
.top nav a:hover { border-bottom-color: #fff; }
.top nav a[aria-current="page"] { border-bottom: 3px solid #fff; }
.top form { margin: 0; }
.top button { background: transparent; color: #fff; border-color: #8c959f; }
.top button:hover { background: #32383f; }

main { display: block; max-width: 80rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
main:focus { outline: none; }

.panel { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 1rem; margin: 1rem 0; }
.panel > :first-child { margin-top: 0; }
.panel.narrow { max-width: 32rem; }
.panel.form { max-width: 56rem; }
.alert:focus { outline: 3px solid #0969da; outline-offset: 2px; }

button, .button {
  display: inline-block; font: inherit; font-weight: 600; line-height: 1.25;
  padding: 0.55rem 1rem; border-radius: 6px; border: 1px solid #1f2328;
  background: #fff; color: #1f2328; cursor: pointer; text-decoration: none;
}
button.primary, .button.primary { background: #1a7f37; border-color: #116329; color: #fff; }
button.primary:hover { background: #116329; }
button.danger { background: #fff; border-color: #a40e26; color: #a40e26; }
button.danger:hover { background: #ffebe9; }
button.danger-strong { background: #a40e26; border-color: #82071e; color: #fff; }
.actions { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: center; margin: 1rem 0; }
.actions form { margin: 0; }

label, legend { font-weight: 600; }
.field { margin: 0 0 1rem; }
.field label { display: block; margin-bottom: 0.25rem; }
.hint { display: block; color: #57606a; font-size: 0.9rem; font-weight: 400; }
input[type="text"], input[type="url"], input[type="number"], input[type="password"], input[type="file"], select {
  font: inherit; width: 100%; max-width: 28rem; padding: 0.45rem 0.6rem;
  border: 1px solid #6e7781; border-radius: 6px; background: #fff; color: #1f2328;
}
input[type="number"] { max-width: 8rem; }
input.short { max-width: 8rem; }
input[aria-invalid="true"] { border-color: #a40e26; border-width: 2px; }
fieldset { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5rem 1rem 0.75rem; margin: 0 0 1rem; }
.checks { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; }
.checks label { font-weight: 400; display: inline-flex; gap: 0.35rem; align-items: center; }
.checks input { width: 1.15rem; height: 1.15rem; }
.row { display: flex; flex-wrap: wrap; gap: 0 1.5rem; }
.error-text { display: block; color: #a40e26; font-weight: 600; }
.field .event-choice { display: flex; gap: 0.4rem; align-items: baseline; margin: 0.2rem 0; }
.field .event-choice label { display: inline; font-weight: 400; margin: 0; }
input.wide { max-width: 100%; }
.notice-panel { border: 2px solid #1a7f37; }

.alert { border: 2px solid #a40e26; background: #fff5f5; border-radius: 8px; padding: 0.75rem 1rem; margin: 1rem 0; }
.alert h2 { margin-top: 0; color: #a40e26; }
.alert ul { margin: 0.25rem 0; padding-left: 1.25rem; }
.alert li { overflow-wrap: anywhere; }
.notice { border: 1px solid #1a7f37; background: #f0fff4; border-radius: 8px; padding: 0.6rem 1rem; margin: 1rem 0; }

.table-box { position: relative; overflow-x: auto; max-width: 100%; border: 1px solid #d0d7de; border-radius: 8px; background: #fff; }
table { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
caption { text-align: left; font-weight: 600; padding: 0.6rem 0.75rem; }
th, td { text-align: left; vertical-align: top; padding: 0.45rem 0.6rem; border-top: 1px solid #d0d7de; }
thead th { background: #f6f8fa; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.nowrap { white-space: nowrap; }
td.text { min-width: 10rem; overflow-wrap: anywhere; }
td.wide { min-width: 18rem; }

.status { display: inline-block; font-weight: 700; font-size: 0.8rem; letter-spacing: 0.02em; padding: 0.1rem 0.45rem; border-radius: 999px; border: 1px solid currentColor; white-space: nowrap; }
.status-RUNNING, .status-CALLING, .status-IN_PROGRESS { color: #0550ae; }
.status-COMPLETED { color: #116329; }
.status-FAILED { color: #a40e26; }
.status-CANCELLED, .status-SKIPPED, .status-QUEUED { color: #57606a; }

.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: 0.75rem; margin: 1rem 0; }
.figure { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 0.75rem 1rem; }
.figure h3 { margin: 0; font-size: 0.95rem; color: #57606a; }
.figure .big { font-size: 1.75rem; font-weight: 700; line-height: 1.2; font-variant-numeric: tabular-nums; }
.figure ul { list-style: none; margin: 0.25rem 0 0; padding: 0; font-size: 0.92rem; }
.figure .when { font-size: 1.1rem; font-weight: 700; margin: 0.35rem 0 0; overflow-wrap: anywhere; }
ul.plain { list-style: none; margin: 0; padding: 0; }
ul.plain li + li { margin-top: 0.25rem; }
.search { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 0.5rem 1rem; margin: 0.5rem 0 1rem; }
.search .field { margin: 0; flex: 0 1 28rem; }
input[type="search"] {
  font: inherit; width: 100%; max-width: 28rem; padding: 0.45rem 0.6rem;
  border: 1px solid #6e7781; border-radius: 6px; background: #fff; color: #1f2328;
}

.bar { display: block; width: 100%; height: 1rem; border-radius: 4px; background: #eaeef2; }
.bar-small { max-width: 12rem; height: 0.75rem; }
.progress-cell { display: flex; flex-wrap: wrap; align-items: center; gap: 0.25rem 0.75rem; min-width: 12rem; }
.seg-completed { fill: #1a7f37; }
.seg-calling { fill: #0969da; }
.seg-queued { fill: #afb8c1; }
.seg-failed { fill: #cf222e; }
.seg-skipped { fill: #8250df; }
.seg-cancelled { fill: #57606a; }
.seg-finished { fill: #1a7f37; }
.legend { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; list-style: none; padding: 0; margin: 0.5rem 0 0; font-size: 0.95rem; }
.legend li { display: inline-flex; align-items: center; gap: 0.4rem; }
.swatch { width: 0.9rem; height: 0.9rem; flex: none; }

.filters { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; list-style: none; padding: 0; margin: 0.5rem 0; }
.filters a[aria-current="true"] { font-weight: 700; color: #1f2328; text-decoration: none; }
.filter-form { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 0 1rem; max-width: 56rem; }
.filter-form .field { margin-bottom: 0; }
.filter-form button { margin-bottom: 0; }
.pager { display: flex; flex-wrap: wrap; gap: 1rem; margin: 0.75rem 0; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0; }
.meta dt { font-weight: 600; color: #57606a; }
.meta dd { margin: 0; overflow-wrap: anywhere; }

.transcript { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 0.6rem; }
.turn { max-width: 44rem; padding: 0.6rem 0.85rem; border-radius: 10px; border: 1px solid #d0d7de; overflow-wrap: anywhere; }
.turn-agent { background: #ddf4ff; border-color: #54aeff; align-self: flex-start; }
.turn-driver { background: #fff; border-color: #8c959f; align-self: flex-end; }
.turn .speaker { display: block; font-weight: 700; font-size: 0.9rem; }
.turn time { color: #57606a; font-size: 0.85rem; font-weight: 400; }
.turn p { margin: 0.2rem 0 0; white-space: pre-wrap; }

@media (max-width: 40rem) {
  main { padding: 1rem 0.75rem 2.5rem; }
  h1 { font-size: 1.35rem; }
  .meta { grid-template-columns: 1fr; }
  .meta dd { margin-bottom: 0.4rem; }
  .turn { max-width: 100%; }
}
`;
