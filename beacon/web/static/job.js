// Live job progress over Server-Sent Events. The browser's EventSource reconnects by itself
// after a dropped connection and sends Last-Event-ID, so the server resumes where it stopped.
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const log = $("job-events");
  const conn = $("job-connection");
  const MAX_LINES = 200;

  function describe(type, data) {
    const parts = [];
    for (const key of ["email_id", "worker", "attempt", "reason", "ref", "done", "total", "status", "error", "imported", "duplicates"]) {
      if (data && data[key] !== undefined && data[key] !== null) parts.push(key.replace("_", " ") + " " + data[key]);
    }
    return type + (parts.length ? " — " + parts.join(", ") : "");
  }

  function addLine(type, data, id) {
    const li = document.createElement("li");
    li.className = "ev ev-" + type;
    li.textContent = describe(type, data);
    if (id) li.dataset.eventId = id;
    log.prepend(li);
    while (log.children.length > MAX_LINES) log.lastElementChild.remove();
  }

  function showStatus(s) {
    $("job-progress").value = s.percent;
    $("job-percent").textContent = Math.round(s.percent) + " %";
    $("job-done").textContent = s.done;
    $("job-failed").textContent = s.failed;
    $("job-total").textContent = s.total || "—";
    $("job-rate").textContent = s.rate.toFixed(2);
    const st = $("job-status");
    st.textContent = s.status;
    st.className = "status st-" + s.status;
  }

  const source = new EventSource(root.dataset.eventsUrl);
  source.onopen = () => { conn.textContent = "Live."; };
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) conn.textContent = "Connection lost — reconnecting…";
  };
  source.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
  source.addEventListener("end", (e) => {
    showStatus(JSON.parse(e.data));
    source.close();
    conn.textContent = "Finished.";
    $("job-after").hidden = false;
  });
  source.onmessage = (e) => addLine("message", JSON.parse(e.data), e.lastEventId);
  // Every other named event is a progress record of the run (beacon.store.runs: run_start and
  // run_end for every kind; analysis: beacon.engine.runner; import: beacon.ingest.runner;
  // sync: beacon.imap.sync).
  const TYPES = [
    "run_start", "email_done", "email_retry", "email_quarantined", "batch_done", "batch_failed", "run_end",
    "worker_start", "worker_recycled", "worker_killed", "progress", "message_failed", "reconnect",
  ];
  for (const type of TYPES) {
    source.addEventListener(type, (e) => addLine(type, JSON.parse(e.data), e.lastEventId));
  }
})();
