// Acting on mail from the inbox and the email page: buttons, the snooze picker, the undo toast,
// one-click unsubscribe and the keyboard shortcuts. Every change goes through the JSON API
// (POST /api/emails/{id}/actions, POST /api/actions/{id}/undo), as any other client's would.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const inbox = document.getElementById("inbox");
  const page = document.getElementById("email-actions"); // the email page's action bar
  const toast = document.getElementById("toast");
  const toastText = document.getElementById("toast-text");
  const toastUndo = document.getElementById("toast-undo");
  const snoozeDialog = document.getElementById("snooze-dialog");
  const keysDialog = document.getElementById("keys-dialog");
  const TOAST_MS = 8000;
  let toastTimer = null;
  let lastUndo = null; // what z undoes: the records of the last action
  let busy = false;

  // -- the API ---------------------------------------------------------------------------------
  async function post(path, body) {
    const r = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch (e) { /* an empty or non-JSON answer */ }
    if (!r.ok) {
      const d = data && data.detail;
      throw new Error(typeof d === "string" ? d : (r.status + " " + r.statusText));
    }
    return data;
  }

  const act = (id, action, until) =>
    post("/api/emails/" + id + "/actions", until ? { action: action, until: until, source: "web" } : { action: action, source: "web" });

  // -- the toast -------------------------------------------------------------------------------
  function showToast(text, undo, isError) {
    toastText.textContent = text;
    toast.classList.toggle("error", !!isError);
    toastUndo.hidden = !undo;
    toastUndo.onclick = undo ? () => { hideToast(); undo(); } : null;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(hideToast, TOAST_MS);
  }
  function hideToast() { toast.hidden = true; clearTimeout(toastTimer); }
  const fail = (err) => showToast("Could not do that: " + err.message, null, true);

  // -- showing a state -------------------------------------------------------------------------
  function rowOf(id) { return inbox && inbox.querySelector('li.mail[data-id="' + id + '"]'); }

  function showState(id, state) {
    const row = rowOf(id);
    if (row) {
      const view = inbox.dataset.view || "";
      const snoozed = !!state.snoozed_until && new Date(state.snoozed_until) > new Date();
      // Done and snoozed mail leaves the list, except in the views of done or snoozed mail,
      // which the opposite leaves.
      const away = view === "is:done" ? !state.done : view === "is:snoozed" ? !snoozed : state.done || snoozed;
      if (away && !row.classList.contains("gone")) {
        // The selection moves on to the next row (or the last one left).
        const rows = visibleRows();
        const next = row === selectedRow ? rows[rows.indexOf(row) + 1] || rows[rows.indexOf(row) - 1] : selectedRow;
        row.classList.add("gone");
        select(next ? visibleRows().indexOf(next) : -1, true);
      } else if (!away) {
        row.classList.remove("gone");
      }
      row.classList.toggle("unread", !state.read);
      row.dataset.read = state.read ? "1" : "0";
      row.dataset.done = state.done ? "1" : "0";
      const done = row.querySelector('[data-action="done"]');
      done.textContent = state.done ? "Not done" : "Done";
      done.setAttribute("aria-pressed", state.done ? "true" : "false");
      row.dataset.importance = state.importance || "";
      const star = row.querySelector('[data-action="important"], [data-action="clear_importance"]');
      const important = state.importance === "important";
      star.textContent = important ? "★" : "☆";
      star.setAttribute("aria-pressed", important ? "true" : "false");
      const read = row.querySelector('[data-action="read"], [data-action="unread"]');
      read.dataset.action = state.read ? "unread" : "read";
      read.textContent = state.read ? "Unread" : "Read";
    }
    if (page && page.dataset.id === String(id)) {
      page.dataset.read = state.read ? "1" : "0";
      page.dataset.done = state.done ? "1" : "0";
      page.dataset.importance = state.importance || "";
      const press = (sel, on) => { const b = page.querySelector(sel); if (b) b.setAttribute("aria-pressed", on ? "true" : "false"); };
      press('[data-action="done"]', state.done);
      press('[data-action="snooze"]', !!state.snoozed_until);
      press('[data-action="important"]', state.importance === "important");
      press('[data-action="not_important"]', state.importance === "not_important");
      const readBtn = page.querySelector('[data-action="unread"], [data-action="read"]');
      readBtn.dataset.action = state.read ? "unread" : "read";
      readBtn.textContent = state.read ? "Mark unread" : "Mark read";
    }
  }

  // -- acting ----------------------------------------------------------------------------------
  const SAID = {
    done: "Marked done", undone: "Back in the inbox", read: "Marked read", unread: "Marked unread",
    important: "Marked important", not_important: "Marked not important", clear_importance: "Importance cleared",
    unsnooze: "Snooze cancelled",
  };

  function current(id, action) {
    // A button that is already on turns its state off again.
    const el = page && page.dataset.id === String(id) ? page : rowOf(id);
    if (!el) return action;
    if (action === "important" && el.dataset.importance === "important") return "clear_importance";
    if (action === "not_important" && el.dataset.importance === "not_important") return "clear_importance";
    if (action === "done" && el.dataset.done === "1") return "undone";
    return action;
  }

  async function perform(id, action, until, label) {
    if (busy) return;
    busy = true;
    try {
      const out = await act(id, action, until);
      showState(id, out.state);
      const records = out.actions || [];
      lastUndo = records.length ? () => undo(id, records) : null;
      showToast(label || SAID[action] || action, lastUndo);
    } catch (err) {
      fail(err);
    } finally {
      busy = false;
    }
  }

  async function undo(id, records) {
    lastUndo = null;
    try {
      let out = null;
      for (const rec of records.slice().reverse()) out = await post("/api/actions/" + rec.id + "/undo");
      if (out) showState(id, out.state);
      showToast("Undone");
    } catch (err) {
      fail(err);
    }
  }

  function dispatch(id, action) {
    if (action === "snooze") return snooze(id);
    return perform(id, current(id, action));
  }

  // -- the snooze picker ----------------------------------------------------------------------
  function at(days, hour) {
    const d = new Date();
    d.setDate(d.getDate() + days);
    d.setHours(hour, 0, 0, 0);
    return d;
  }
  function presets() {
    const now = new Date();
    const list = [];
    const later = new Date(now.getTime() + 3 * 3600 * 1000);
    if (later.getDate() === now.getDate()) list.push(["Later today", later]);
    list.push(["Tomorrow", at(1, 8)]);
    const toSaturday = (6 - now.getDay() + 7) % 7;
    if (toSaturday > 1) list.push(["This weekend", at(toSaturday, 9)]);
    list.push(["Next week", at(((8 - now.getDay()) % 7) || 7, 8)]);
    return list;
  }
  const fmt = (d) => d.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  const localInput = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

  function snooze(id) {
    const box = document.getElementById("snooze-presets");
    const input = document.getElementById("snooze-at");
    box.replaceChildren();
    const choices = presets();
    choices.forEach(([name, when], i) => {
      const b = document.createElement("button");
      b.type = "submit";
      b.value = "preset-" + i;
      const label = document.createElement("span");
      label.textContent = name;
      const time = document.createElement("span");
      time.className = "when";
      time.textContent = fmt(when);
      b.append(label, time);
      box.append(b);
    });
    input.min = localInput(new Date());
    input.value = localInput(choices[0][1]);
    snoozeDialog.returnValue = "";
    snoozeDialog.onclose = () => {
      const v = snoozeDialog.returnValue;
      let when = null;
      if (v.startsWith("preset-")) when = choices[Number(v.slice(7))][1];
      else if (v === "custom" && input.value) when = new Date(input.value);
      if (!when) return;
      if (when <= new Date()) { showToast("Pick a time in the future", null, true); return; }
      perform(id, "snooze", when.toISOString(), "Snoozed until " + fmt(when));
    };
    snoozeDialog.showModal();
    const first = box.querySelector("button");
    if (first) first.focus();
  }

  // -- buttons ---------------------------------------------------------------------------------
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (!btn) return;
    const holder = btn.closest("li.mail, #email-actions");
    if (!holder) return;
    ev.preventDefault();
    if (holder.matches("li.mail")) select(visibleRows().indexOf(holder), false);
    dispatch(holder.dataset.id, btn.dataset.action);
  });

  // -- one-click unsubscribe (after a confirmation) ---------------------------------------------
  const unsub = document.getElementById("unsubscribe");
  const unsubDialog = document.getElementById("unsubscribe-dialog");
  if (unsub && unsubDialog) {
    unsub.addEventListener("click", () => { unsubDialog.returnValue = ""; unsubDialog.showModal(); });
    unsubDialog.addEventListener("close", async () => {
      if (unsubDialog.returnValue !== "confirm") return;
      unsub.disabled = true;
      try {
        const out = await post("/api/emails/" + page.dataset.id + "/unsubscribe");
        unsub.textContent = "Unsubscribed";
        showToast("Unsubscribed: " + out.host + " took the request");
      } catch (err) {
        unsub.disabled = false;
        fail(err);
      }
    });
  }

  // -- the inbox's selection -------------------------------------------------------------------
  let selectedRow = null;
  function visibleRows() { return inbox ? Array.from(inbox.querySelectorAll("li.mail:not(.gone)")) : []; }
  function position() { return selectedRow ? visibleRows().indexOf(selectedRow) : -1; }
  function select(i, quiet) {
    const rows = visibleRows();
    if (selectedRow) { selectedRow.classList.remove("selected"); selectedRow.removeAttribute("aria-current"); }
    selectedRow = rows.length && i >= 0 ? rows[Math.min(i, rows.length - 1)] : null;
    if (!selectedRow) return;
    selectedRow.classList.add("selected");
    selectedRow.setAttribute("aria-current", "true");
    if (!quiet) selectedRow.scrollIntoView({ block: "nearest" });
  }
  function selectedId() {
    if (page) return page.dataset.id;
    if (!selectedRow || selectedRow.classList.contains("gone")) select(Math.max(position(), 0), false);
    return selectedRow ? selectedRow.dataset.id : null;
  }

  // -- keyboard shortcuts ----------------------------------------------------------------------
  const KEYS = {
    j: () => inbox && select(position() + 1), k: () => inbox && select(Math.max(position() - 1, 0)),
    o: open, Enter: open,
    u: () => { if (page) location.href = "/"; },
    e: () => withId((id) => dispatch(id, "done")),
    s: () => withId((id) => snooze(id)),
    "+": () => withId((id) => perform(id, "important")),
    "=": () => withId((id) => perform(id, "important")), // "+" without Shift on most layouts
    "-": () => withId((id) => perform(id, "not_important")),
    I: () => withId((id) => perform(id, "read")),
    U: () => withId((id) => perform(id, "unread")),
    r: reply,
    z: () => { if (lastUndo) lastUndo(); },
    "/": search,
    "?": () => keysDialog.showModal(),
  };
  function withId(fn) { const id = selectedId(); if (id) fn(id); }
  function open() { if (inbox) withId((id) => { location.href = "/emails/" + id; }); }
  function reply() {
    if (page) { document.getElementById("reply").click(); return; }
    withId((id) => { location.href = "/emails/" + id + "#reply"; });
  }
  function search() {
    const box = document.querySelector('form.filters input[type="search"]');
    if (box) { box.focus(); box.select(); } else location.href = "/#search";
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    const t = ev.target;
    if (t.closest && t.closest("input, textarea, select, [contenteditable], dialog[open]")) {
      if (ev.key === "Escape" && t.blur && !t.closest("dialog[open]")) t.blur();
      return;
    }
    if (document.querySelector("dialog[open]")) return;
    const fn = KEYS[ev.key];
    if (!fn) return;
    // Enter on a focused link or button does what it always does.
    if (ev.key === "Enter" && t.closest && t.closest("a, button")) return;
    ev.preventDefault();
    fn();
  });

  // -- on arrival ------------------------------------------------------------------------------
  if (page) {
    if (page.dataset.read !== "1") {
      // Opening an email reads it (quietly: no toast, nothing to undo).
      act(page.dataset.id, "read").then((out) => showState(page.dataset.id, out.state)).catch(() => {});
    }
    if (location.hash === "#reply") document.getElementById("reply").focus();
  }
  if (inbox && location.hash === "#search") search();
})();
