// The console's one script, served as /console/assets/console.js (same origin, so the
// CSP needs no 'unsafe-inline'). Pages work without it; it only keeps a page that says
// `data-refresh-seconds` on its <main> up to date (a running campaign, the campaign list
// while one runs).
//
// How: every few seconds it fetches the same URL (the session cookie goes along), parses
// the HTML and swaps only the regions marked `data-refresh-region` and the title. Not a
// reload, because a reload moves focus and the screen-reader cursor back to the top of the
// page, re-reads the whole page aloud and loses the scroll position every few seconds.
// Swapping regions leaves everything else alone; if focus was on a link or button inside a
// swapped region, the same link or button in the new region gets it back. The regions are
// not live regions (a table read aloud every 3 s would drown the user); one polite status
// line says when the campaign's status changes. Not the JSON API: it wants the Bearer
// token, which the browser does not have (the cookie is not the token), and the page is
// already the one place that turns a campaign into HTML. Hidden tabs do not poll.
//
// Kept as a string because it runs in the browser, not in the Worker (the project's
// TypeScript has no DOM types); the browser tests exercise it.
export const CONSOLE_SCRIPT = String.raw`"use strict";
(function () {
  var main = document.querySelector("main[data-refresh-seconds]");
  if (!main) return;
  var seconds = Math.max(2, Number(main.getAttribute("data-refresh-seconds")) || 3);
  var announcer = document.getElementById("refresh-announcer");
  var inFlight = false;
  var timer = 0;

  function keyOf(element) {
    if (!element || element === document.body) return null;
    var tag = element.tagName.toLowerCase();
    if (tag === "a") return "a " + element.getAttribute("href");
    if (tag === "button" || tag === "input" || tag === "select") {
      return tag + " " + (element.getAttribute("name") || "") + " " +
        (element.getAttribute("value") || "") + " " + element.textContent;
    }
    return element.id ? "#" + element.id : null;
  }

  function findByKey(root, key) {
    var candidates = root.querySelectorAll("a, button, input, select, [id]");
    for (var i = 0; i < candidates.length; i++) {
      if (keyOf(candidates[i]) === key) return candidates[i];
    }
    return null;
  }

  function apply(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var freshMain = fresh.querySelector("main");
    if (!freshMain) return false;
    var active = document.activeElement;
    var focusKey = null;
    var focusRegionId = null;
    var regions = document.querySelectorAll("[data-refresh-region]");
    for (var i = 0; i < regions.length; i++) {
      var region = regions[i];
      var replacement = fresh.getElementById(region.id);
      if (!replacement) continue;
      if (active && region.contains(active)) {
        focusKey = keyOf(active);
        focusRegionId = region.id;
      }
      region.replaceWith(document.importNode(replacement, true));
    }
    if (fresh.title) document.title = fresh.title;
    if (focusKey && focusRegionId) {
      var newRegion = document.getElementById(focusRegionId);
      var target = newRegion && findByKey(newRegion, focusKey);
      if (target) target.focus({ preventScroll: true });
    }
    var before = main.getAttribute("data-status");
    var after = freshMain.getAttribute("data-status");
    if (after && after !== before) {
      main.setAttribute("data-status", after);
      if (announcer) announcer.textContent = freshMain.getAttribute("data-status-text") || after;
    }
    var stillRunning = freshMain.hasAttribute("data-refresh-seconds");
    if (!stillRunning) main.removeAttribute("data-refresh-seconds");
    return stillRunning;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(tick, seconds * 1000);
  }

  function tick() {
    if (document.hidden || inFlight) {
      schedule();
      return;
    }
    inFlight = true;
    var keepGoing = true;
    fetch(location.href, { credentials: "same-origin", headers: { "x-console-refresh": "1" } })
      .then(function (response) {
        if (response.redirected && new URL(response.url).pathname === "/console/sign-in") {
          keepGoing = false;
          if (announcer) announcer.textContent = "Your session ended: sign in again to see updates.";
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html) keepGoing = apply(html);
      })
      .catch(function () {
        // Offline for a moment: the next tick tries again.
      })
      .then(function () {
        inFlight = false;
        if (keepGoing) schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && main.hasAttribute("data-refresh-seconds")) tick();
  });
  schedule();
})();
`;
