// The review inbox's only script: live queue refresh and keyboard shortcuts.
// Written by hand; every page also works with this script disabled.
"use strict";

(function () {
  const live = document.getElementById("live");
  const rows = document.getElementById("rows");

  function knownIds() {
    return new Set(Array.from(document.querySelectorAll("tr[data-approval-id]"),
      (row) => row.dataset.approvalId));
  }

  // -- the queue refreshes itself when the server says something changed ------------------
  let pending = null;
  async function refreshRows() {
    const before = knownIds();
    const response = await fetch(live.dataset.rowsUrl, {
      credentials: "same-origin", headers: { "Accept": "text/html" },
    });
    if (!response.ok) { return; }
    rows.innerHTML = await response.text();
    // The tab title counts the approvals waiting for a decision, whatever the filter shows.
    const waiting = response.headers.get("X-Eat-Waiting");
    if (waiting !== null && live.dataset.title) {
      document.title = (waiting ? "(" + waiting + ") " : "") + live.dataset.title;
    }
    let arrived = 0;
    rows.querySelectorAll("tr[data-approval-id]").forEach((row) => {
      if (!before.has(row.dataset.approvalId)) { row.classList.add("arrived"); arrived += 1; }
    });
    document.getElementById("count").textContent =
      rows.querySelectorAll("tr[data-approval-id]").length;
    if (arrived) {
      live.textContent = arrived === 1 ? "1 new approval arrived." : arrived + " new approvals arrived.";
      live.classList.add("flash-new");
    }
  }
  function scheduleRefresh() {
    // Several changes in a burst (a decision, a claim, a completion) make one fetch.
    clearTimeout(pending);
    pending = setTimeout(() => { refreshRows().catch(() => {}); }, 150);
  }

  if (live && rows) {
    if (window.EventSource) {
      const source = new EventSource("/events");
      source.addEventListener("open", () => { live.dataset.state = "open"; });
      source.addEventListener("error", () => { live.dataset.state = "closed"; });
      source.addEventListener("approvals", scheduleRefresh);
    } else {
      setInterval(scheduleRefresh, 10000);
    }
  }

  // -- keyboard ------------------------------------------------------------------------------
  function typing(event) {
    const tag = event.target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || event.target.isContentEditable;
  }
  function moveSelection(step) {
    const links = Array.from(document.querySelectorAll("tr[data-approval-id] a.open"));
    if (!links.length) { return; }
    const current = links.indexOf(document.activeElement);
    const next = links[Math.min(links.length - 1, Math.max(0, current + step))] || links[0];
    document.querySelectorAll("tr.selected").forEach((row) => row.classList.remove("selected"));
    next.closest("tr").classList.add("selected");
    next.focus();
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    const approve = document.querySelector("button[data-key=approve]");
    const reject = document.querySelector("textarea[data-key=reject]");
    const back = document.getElementById("back");
    switch (event.key) {
      case "j": moveSelection(1); break;
      case "k": moveSelection(-1); break;
      case "/": {
        const filter = document.getElementById("filter-agent");
        if (filter) { event.preventDefault(); filter.focus(); }
        break;
      }
      case "a": if (approve) { event.preventDefault(); approve.focus(); } break;
      case "r": if (reject) { event.preventDefault(); reject.focus(); } break;
      case "u": if (back) { back.click(); } break;
      default: return;
    }
  });
})();
