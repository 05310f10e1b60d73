#include "dispatcher/status_page.h"

namespace tandem {

const char* StatusPageHtml() {
  return R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>tandem</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  #state { font-weight: 600; }
  #state.down { color: #ff8a80; }
  main { padding: 16px 20px; max-width: 1200px; }
  .tiles { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 18px; }
  .tile { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 10px 14px; min-width: 150px; }
  .tile .v { font-size: 22px; font-weight: 600; }
  .tile .l { color: #5b6475; font-size: 12px; }
  h2 { font-size: 15px; margin: 18px 0 8px; }
  #pipeline { display: flex; align-items: center; flex-wrap: wrap; gap: 4px; }
  .end { padding: 8px 10px; border-radius: 6px; background: #e6e9ef; font-size: 12px; }
  .arrow { color: #5b6475; font-size: 12px; text-align: center; min-width: 60px; }
  .stage { background: #fff; border: 2px solid #9aa5b8; border-radius: 6px; padding: 8px 12px; min-width: 140px; }
  .stage.bottleneck { border-color: #d93025; box-shadow: 0 0 0 3px #fbd3d0; }
  .stage .w { font-weight: 600; }
  .stage .tag { color: #d93025; font-size: 11px; font-weight: 700; text-transform: uppercase; }
  .bar { height: 8px; background: #e6e9ef; border-radius: 4px; margin-top: 6px; overflow: hidden; }
  .bar div { height: 100%; background: #3b7ddd; }
  .stage.bottleneck .bar div { background: #d93025; }
  .workers span { display: inline-block; margin: 0 6px 6px 0; padding: 3px 8px; border-radius: 10px; font-size: 12px; }
  .up { background: #d7f2dd; color: #1e6b32; }
  .down { background: #fbd3d0; color: #8c1d18; }
  #events { list-style: none; padding: 0; margin: 0; background: #fff; border: 1px solid #dde1e8; border-radius: 6px; }
  #events li { padding: 5px 10px; border-top: 1px solid #eef0f4; font-size: 13px; }
  #events li:first-child { border-top: none; }
  #events time { color: #5b6475; margin-right: 10px; font-variant-numeric: tabular-nums; }
  #auth { display: none; margin-bottom: 14px; }
  #error { color: #8c1d18; margin-bottom: 10px; }
</style>
</head>
<body>
<header><h1>tandem</h1><span id="model">connecting...</span><span id="state"></span></header>
<main>
  <form id="auth">This server needs its token:
    <input type="text" name="username" value="tandem" autocomplete="username" hidden>
    <input id="token" type="password" size="32" autocomplete="current-password"> <button>Use</button></form>
  <div id="error"></div>
  <div class="tiles">
    <div class="tile"><div class="v" id="rate">-</div><div class="l">inferences/s (planner: <span id="predicted">-</span>)</div></div>
    <div class="tile"><div class="v" id="p50">-</div><div class="l">latency p50 (p99 <span id="p99">-</span>)</div></div>
    <div class="tile"><div class="v" id="queued">-</div><div class="l">queued (<span id="inflight">-</span> in flight)</div></div>
    <div class="tile"><div class="v" id="answered">-</div><div class="l">answered (<span id="failed">-</span> failed)</div></div>
    <div class="tile"><div class="v" id="generation">-</div><div class="l">model generation (<span id="recoveries">-</span> recoveries)</div></div>
  </div>
  <h2>Pipeline</h2>
  <div id="pipeline"></div>
  <h2>Workers</h2>
  <div class="workers" id="workers"></div>
  <h2>Recent events</h2>
  <ul id="events"></ul>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const ms = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " ms";
let token = sessionStorage.getItem("tandem-token") || "";
$("auth").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("tandem-token", token);
  refresh();
});

function draw(s) {
  $("model").textContent = s.model;
  $("state").textContent = s.ready ? "ready" : "not ready";
  $("state").className = s.ready ? "" : "down";
  $("rate").textContent = s.throughput_per_s.toFixed(1);
  $("predicted").textContent = s.predicted_per_s > 0 ? s.predicted_per_s.toFixed(1) : "n/a";
  $("p50").textContent = ms(s.latency_ms.p50);
  $("p99").textContent = ms(s.latency_ms.p99);
  $("queued").textContent = s.queued;
  $("inflight").textContent = s.in_flight;
  $("answered").textContent = s.answered;
  $("failed").textContent = s.failed;
  $("generation").textContent = s.generation;
  $("recoveries").textContent = s.recoveries;
  const p = $("pipeline");
  p.replaceChildren(el("div", "end", "dispatcher"));
  for (const st of s.stages) {
    p.append(el("div", "arrow", "\u2192"));
    const box = el("div", "stage" + (st.bottleneck ? " bottleneck" : ""));
    box.dataset.stage = st.stage;
    box.append(el("div", "w", "stage " + st.stage + " on " + st.worker));
    box.append(el("div", "", "compute " + ms(st.compute_ms) + ", load " + Math.round(100 * st.load) + "%"));
    box.append(el("div", "", "codec " + ms(st.codec_ms) + (st.transfer_ms > 0 ? ", next hop " + ms(st.transfer_ms) : "")));
    if (st.bottleneck) box.append(el("div", "tag", "bottleneck"));
    const bar = el("div", "bar");
    const fill = el("div");
    fill.style.width = Math.round(100 * st.load) + "%";
    bar.append(fill);
    box.append(bar);
    p.append(box);
  }
  p.append(el("div", "arrow", "\u2192"), el("div", "end", "dispatcher"));
  const w = $("workers");
  w.replaceChildren();
  for (const [name, up] of Object.entries(s.workers)) w.append(el("span", up ? "up" : "down", name + (up ? " up" : " down")));
  const ev = $("events");
  ev.replaceChildren();
  for (const e of s.events.slice().reverse()) {
    const li = el("li");
    li.append(el("time", "", new Date(e.unix_s * 1000).toLocaleTimeString()), document.createTextNode(e.text));
    ev.append(li);
  }
}

async function refresh() {
  try {
    const r = await fetch("status", { headers: token ? { Authorization: "Bearer " + token } : {} });
    if (r.status === 401) {
      $("auth").style.display = "block";
      $("error").textContent = token ? "the token was refused" : "";
      return;
    }
    $("auth").style.display = "none";
    if (!r.ok) {
      $("error").textContent = "GET /status: HTTP " + r.status;
      return;
    }
    $("error").textContent = "";
    draw(await r.json());
  } catch (e) {
    $("error").textContent = "the dispatcher does not answer (" + e.message + ")";
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
)html";
}

}  // namespace tandem
