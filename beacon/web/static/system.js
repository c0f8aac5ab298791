// The System page: polls /api/engine and draws memory over time on a canvas (the web
// process, the engine process when the engine runs in one of its own, the zygote, each
// worker, all processes' PSS, and the budget as a dashed line).
(function () {
  "use strict";
  const canvas = document.getElementById("memory-plot");
  if (!canvas) return;
  const $ = (id) => document.getElementById(id);
  const MIB = 1024 * 1024;
  const PALETTE = ["#1f4fd1", "#e0562b", "#1a9c6b", "#9b4dca", "#d4a017", "#0f8ea8", "#c23d7a", "#6b7b2b"];
  const fallback = []; // main-process samples when no engine history exists
  let lastData = null;

  const mib = (b) => (b / MIB).toFixed(0) + " MiB";
  // The page's own colours (they change with dark mode).
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function series(data) {
    const out = [];
    if (data.available && data.metrics.history.length) {
      const h = data.metrics.history;
      out.push({ name: "web process", color: css("--ink"), pts: h.map((p) => [p.timestamp, p.main_rss]) });
      // Each only where it existed: the engine process (engine_process) and the zygote (pool mode).
      const own = (key, name, color, dash) => {
        const pts = h.filter((p) => p[key]).map((p) => [p.timestamp, p[key]]);
        if (pts.length) out.push({ name, color, dash, pts });
      };
      own("engine_rss", "engine process", "#5b6b8c", [6, 3]);
      own("zygote_rss", "zygote", "#a0785a", [1, 2]);
      out.push({ name: "all processes (PSS)", color: "#8a93a6", dash: [2, 3], pts: h.map((p) => [p.timestamp, p.total_pss]) });
      const pids = [...new Set(h.flatMap((p) => Object.keys(p.workers)))];
      pids.forEach((pid, i) => {
        const pts = h.filter((p) => pid in p.workers).map((p) => [p.timestamp, p.workers[pid]]);
        out.push({ name: "worker " + pid, color: PALETTE[i % PALETTE.length], pts });
      });
    } else {
      fallback.push([Date.now() / 1000, data.available ? data.metrics.main_rss : data.main_rss]);
      if (fallback.length > 900) fallback.shift();
      out.push({ name: "web process", color: css("--ink"), pts: fallback.slice() });
    }
    return out;
  }

  function draw(data) {
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 960, cssH = canvas.clientHeight || 320;
    canvas.width = cssW * dpr; canvas.height = cssH * dpr;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const pad = { l: 70, r: 16, t: 12, b: 28 };
    const w = cssW - pad.l - pad.r, h = cssH - pad.t - pad.b;
    const lines = series(data);
    const budget = data.available ? data.metrics.budget : 0;
    const all = lines.flatMap((s) => s.pts);
    if (!all.length) return;
    const t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]), t0 + 10);
    const yMax = Math.max(budget, ...all.map((p) => p[1])) * 1.08 || 1;
    const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * w;
    const y = (v) => pad.t + h - (v / yMax) * h;

    ctx.font = "12px system-ui, sans-serif";
    ctx.fillStyle = css("--muted"); ctx.strokeStyle = css("--line"); ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = (yMax / 4) * i, yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.l, yy); ctx.lineTo(pad.l + w, yy); ctx.stroke();
      ctx.fillText(mib(v), 6, yy + 4);
    }
    const span = t1 - t0;
    ctx.fillText(span >= 120 ? Math.round(span / 60) + " min ago" : Math.round(span) + " s ago", pad.l, cssH - 8);
    ctx.fillText("now", pad.l + w - 24, cssH - 8);

    if (budget) {
      ctx.save(); ctx.setLineDash([8, 5]); ctx.strokeStyle = "#d0342c"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(pad.l, y(budget)); ctx.lineTo(pad.l + w, y(budget)); ctx.stroke();
      ctx.fillStyle = "#d0342c"; ctx.fillText("budget " + mib(budget), pad.l + 6, y(budget) - 6);
      ctx.restore();
    }
    for (const s of lines) {
      if (!s.pts.length) continue;
      ctx.save(); ctx.strokeStyle = s.color; ctx.lineWidth = 2; if (s.dash) ctx.setLineDash(s.dash);
      ctx.beginPath();
      s.pts.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[1])) : ctx.moveTo(x(p[0]), y(p[1]))));
      if (s.pts.length === 1) ctx.arc(x(s.pts[0][0]), y(s.pts[0][1]), 2, 0, 7);
      ctx.stroke(); ctx.restore();
    }
    legend(lines, budget);
  }

  function legend(lines, budget) {
    const ul = $("memory-legend");
    ul.replaceChildren();
    const items = lines.map((s) => [s.name + " " + (s.pts.length ? mib(s.pts[s.pts.length - 1][1]) : ""), s.color]);
    if (budget) items.push(["budget " + mib(budget), "#d0342c"]);
    for (const [label, color] of items) {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch"; sw.style.backgroundColor = color;
      li.append(sw, document.createTextNode(label));
      ul.append(li);
    }
  }

  function row(cells) {
    const tr = document.createElement("tr");
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (i >= 2 && typeof c !== "string") td.className = "num";
      tr.append(td);
    });
    return tr;
  }

  function tables(data) {
    if (!data.available) {
      $("sys-total").textContent = mib(data.main_rss);
      $("sys-budget").textContent = "web process";
      return;
    }
    const m = data.metrics;
    $("sys-mode").textContent = "mode " + m.mode + " · " + m.workers.length + " worker(s) · budget from " + m.budget_source;
    $("sys-throughput").textContent = m.throughput.toFixed(2);
    $("sys-queue").textContent = m.queue_depth;
    $("sys-inflight").textContent = m.in_flight + " batch(es) in flight";
    $("sys-total").textContent = mib(m.total_pss);
    $("sys-budget").textContent = "of " + mib(m.budget) + " budget · peak " + mib(m.peak_total_pss);
    const wb = $("sys-workers").tBodies[0];
    // In celery mode a worker lives on a node: "node / pid".
    wb.replaceChildren(...m.workers.map((w) => row([(w.node ? w.node + " / " : "") + w.pid, w.state, mib(w.rss), mib(w.uss), w.tasks, w.emails])));
    nodes(m.nodes || []);
    if (!m.workers.length) wb.append(row(["—", "no workers running", "", "", "", ""]));
    const eb = $("sys-events").tBodies[0];
    const ev = [
      ...Object.entries(m.recycles).map(([r, n]) => row(["recycle", r, n])),
      ...Object.entries(m.kills).map(([r, n]) => row(["kill", r, n])),
    ];
    eb.replaceChildren(...(ev.length ? ev : [row(["—", "none yet", ""])]));
    $("sys-counts").textContent = m.done + " analysed · " + m.retried + " retried · " + m.quarantined + " quarantined";
  }

  function counts(d) {
    return Object.entries(d).map(([r, n]) => r + " " + n).join(", ") || "0";
  }

  function nodes(list) {
    $("sys-nodes-card").hidden = !list.length;
    $("sys-nodes").tBodies[0].replaceChildren(...list.map((n) => row([
      n.name, n.state, n.busy + " / " + n.slots, mib(n.total_pss), mib(n.budget), n.done,
      n.throughput.toFixed(2), counts(n.kills), counts(n.recycles), n.seen_s.toFixed(1) + " s ago",
    ])));
  }

  async function tick() {
    try {
      const r = await fetch("/api/engine", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.status === 401) { window.location = "/login?next=/system"; return; }
      if (r.ok) {
        lastData = await r.json();
        draw(lastData);
        tables(lastData);
      }
    } catch (err) {
      $("sys-mode").textContent = "cannot reach the server: " + err;
    }
  }
  window.addEventListener("resize", () => lastData && draw(lastData));
  tick();
  setInterval(tick, 2000);
})();
