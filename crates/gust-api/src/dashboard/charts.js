"use strict";
// Line charts drawn as SVG by hand: the dashboard loads no library.
// Charts.line(box, spec) redraws `box` from
//   spec = { title, unit, now, series: [{ label, color, values: [number|null] }] }
// and leaves on it, for whoever reads the page: data-points (values drawn) and
// data-total (spec.total, else the sum of the first series).
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 320, H = 130, LEFT = 34, RIGHT = 6, TOP = 8, BOTTOM = 16;

  function svg(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A round upper bound for the y axis.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function format(v, unit) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    let s;
    if (unit === "ms" && v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + " s";
    if (v >= 1000) s = (v / 1000).toFixed(1) + "k";
    else if (v >= 10 || Number.isInteger(v)) s = String(Math.round(v));
    else s = v.toFixed(v >= 1 ? 1 : 2);
    return unit ? s + " " + unit : s;
  }

  function line(box, spec) {
    const n = Math.max(...spec.series.map((s) => s.values.length), 1);
    let max = 0, drawn = 0;
    for (const s of spec.series) for (const v of s.values) if (v !== null && v > max) max = v;
    max = niceMax(max);
    const x = (i) => LEFT + (n === 1 ? 0 : (i * (W - LEFT - RIGHT)) / (n - 1));
    const y = (v) => TOP + (H - TOP - BOTTOM) * (1 - v / max);

    const head = document.createElement("h3");
    head.append(spec.title);
    const now = document.createElement("span");
    now.className = "now";
    now.textContent = spec.now === undefined ? "" : format(spec.now, spec.unit);
    head.append(now);

    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": spec.title });
    for (const f of [0, 0.5, 1]) {
      const yy = y(max * f);
      chart.append(svg("line", { class: "axis", x1: LEFT, x2: W - RIGHT, y1: yy, y2: yy }));
      chart.append(svg("text", { class: "tick", x: LEFT - 6, y: yy + 3, "text-anchor": "end" },
        format(max * f, "")));
    }
    chart.append(svg("text", { class: "tick", x: LEFT, y: H - 4 }, spec.span || ""));
    chart.append(svg("text", { class: "tick", x: W - RIGHT, y: H - 4, "text-anchor": "end" }, "now"));
    for (const s of spec.series) {
      // Gaps (null) break the line.
      let d = "", pen = false;
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
        drawn += 1;
      });
      chart.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 1.8,
        "stroke-linejoin": "round", "data-series": s.label }));
      // Lone points (neighbours empty) would not show as a line.
      s.values.forEach((v, i) => {
        const alone = v !== null && v !== undefined
          && (s.values[i - 1] === null || s.values[i - 1] === undefined)
          && (s.values[i + 1] === null || s.values[i + 1] === undefined);
        if (alone) chart.append(svg("circle", { cx: x(i), cy: y(v), r: 2.2, fill: s.color }));
      });
    }

    const legend = document.createElement("div");
    legend.className = "legend";
    for (const s of spec.series) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = s.color;
      item.append(swatch, s.label);
      legend.append(item);
    }
    const total = spec.total !== undefined ? spec.total
      : (spec.series[0]?.values || []).reduce((a, v) => a + (v || 0), 0);
    box.dataset.points = String(drawn);
    box.dataset.total = String(Math.round(total * 1000) / 1000);
    box.replaceChildren(head, chart, legend);
  }

  return { line, format };
})();
