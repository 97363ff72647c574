/* energy-nb calculator: evaluates the laws exported by energy_nb/planning/calculator.py (JSON in #enb-calc-data) in
   the one form of a run's time and power (energy_nb/laws/physics.py): the same numbers as `energy-nb predict` /
   `energy-nb plan` (--law auto, PUE 1, no host, 365 days, 95% interval): the energy the planned GPUs draw (the work
   net of idle power, + their idle power all day), with the net and the gross on lines of their own. In node (the tests) it exports calculator(D), the
   functions the form uses, instead of drawing the form. */
(function () {
  "use strict";
  var D;

  /* The wall time of a run busy tg on the GPU and th on the host: their smooth maximum (physics.wall_time). */
  function wallTime(tg, th, s) { return Math.pow(Math.pow(tg, s) + Math.pow(th, s), 1 / s); }
  /* Net energy: static power over the wall time plus the busy energy, capped (physics.net_energy). */
  function netEnergy(t, staticW, busyJ, capW) { return Math.min(staticW * t + busyJ, capW * t); }

  function opt(sel, values, labels) {
    sel.innerHTML = "";
    values.forEach(function (v, i) {
      var o = document.createElement("option");
      o.value = String(v); o.textContent = labels ? labels[i] : String(v);
      sel.appendChild(o);
    });
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; });
  }
  function fmt(x) {
    if (!isFinite(x)) { return "–"; }
    var a = Math.abs(x);
    if (a === 0) { return "0"; }
    if (a >= 1e7 || a < 1e-3) { return x.toPrecision(3); }
    if (a >= 1000) { return Math.round(x).toLocaleString("en-US"); }
    var d = Math.max(0, 2 - Math.floor(Math.log10(a)));
    return x.toFixed(d);
  }

  /* The reasons a configuration lies outside the law's data: a port of LawMixin.extrapolation. */
  /* Doublings beyond the law's rows (energy_nb.laws.levels.distance): resolution, steps and batch size, in quadrature. */
  function distance(law, gpu, res, steps, batch) {
    var d = (law.domain && law.domain.by_gpu && law.domain.by_gpu[gpu]) || law.domain || {}, total = 0;
    [["height", res], ["steps", steps], ["batch_size", batch]].forEach(function (p) {
      if (!d[p[0]]) { return; }
      var lo = d[p[0]][0], hi = d[p[0]][1];
      if (p[1] > hi && hi > 0) { total += Math.pow(Math.log2(p[1] / hi), 2); }
      else if (p[1] < lo && p[1] > 0) { total += Math.pow(Math.log2(lo / p[1]), 2); }
    });
    return Math.sqrt(total);
  }

  function extrapolation(law, model, gpu, h, w, steps, dtype, cfg, batch) {
    var d = law.domain || {}, out = [];
    if (!d.models) { return ["the law records no training domain (saved by an older version): coverage unknown"]; }
    if (d.models.indexOf(model) < 0) { out.push("model " + model + " is not in the law's data (fitted on " + d.models.join(", ") + ")"); }
    if (d.gpus.indexOf(gpu) < 0) { out.push("GPU " + gpu + " is not in the law's data (" + d.gpus.join(", ") + ")"); }
    if (d.dtypes.indexOf(dtype) < 0) {
      var twin = null;
      if (D.half_dtypes.indexOf(dtype) >= 0) {
        for (var i = 0; i < d.dtypes.length; i++) { if (D.half_dtypes.indexOf(d.dtypes[i]) >= 0) { twin = d.dtypes[i]; break; } }
      }
      out.push("dtype " + dtype + " is not in the law's data (" + d.dtypes.join(", ") + ")" + (twin ? "; treated as " + twin + " (both half precision)" : ""));
    }
    if (d.cfg.indexOf(cfg) < 0) { out.push("CFG " + (cfg ? "on" : "off") + " is not in the law's data"); }
    [["height", h], ["width", w]].forEach(function (p) {
      var lo = d[p[0]][0], hi = d[p[0]][1];
      if (!(lo <= p[1] && p[1] <= hi)) { out.push(p[0] + " " + p[1] + " px is outside the law's data (" + lo + "-" + hi + " px)"); }
    });
    if (d.square_only && h !== w) { out.push("aspect ratio " + h + "x" + w + ": the law's data has square images only"); }
    if (!(d.steps[0] <= steps && steps <= d.steps[1])) { out.push(steps + " steps is outside the law's data (" + d.steps[0] + "-" + d.steps[1] + " steps)"); }
    var bs = d.batch_size || [1, 1];
    if (!(bs[0] <= batch && batch <= bs[1])) {
      out.push("batch size " + batch + " is outside the law's data (" + bs[0] + "-" + bs[1] + ")" + (bs[1] === 1 ? "; the law has no batch term: predicted as batch 1" : ""));
    }
    var g = (d.by_gpu || {})[gpu];
    if (g) {
      var gaps = [];
      [["height", h, "height"], ["steps", steps, "steps"], ["batch size", batch, "batch_size"]].forEach(function (p) {
        var lo = g[p[2]][0], hi = g[p[2]][1];
        if (!(lo <= p[1] && p[1] <= hi)) { gaps.push(lo !== hi ? p[0] + " " + lo + "-" + hi : p[0] + " " + lo); }
      });
      if (g.dtypes.indexOf(dtype) < 0) { gaps.push("dtype " + g.dtypes.join("/")); }
      if (g.cfg.indexOf(cfg) < 0) { gaps.push("CFG " + (g.cfg.length === 1 && g.cfg[0] === 1 ? "on" : "off")); }
      var sheet = law.datasheet;  /* no term per GPU: priced from the datasheet */
      if (gaps.length && !sheet) { out.push("the " + gpu + " data cover only " + gaps.join(", ") + ": elsewhere the " + gpu + " term is assumed to hold as fitted"); }
      else if (gaps.length) { out.push("the " + gpu + " rows of the law's data cover only " + gaps.join(", ")); }
    }
    if (law.datasheet) {  /* a GPU without data is priced from its datasheet */
      var sp = D.gpu_specs[gpu];
      out = out.map(function (s) {
        return s.indexOf("GPU " + gpu + " is not") === 0 && sp ? "GPU " + gpu + " is not in the law's data (" +
          d.gpus.join(", ") + "): priced from its datasheet (" + sp.tflops_half + " TFLOP/s half, " +
          sp.bandwidth_gb_s + " GB/s, " + sp.power_w + " W)" : s;
      });
    }
    return out;
  }

  /* Everything the form answers, as numbers (also used by the browser test through window.enbCalc). */
  function answer(inp) {
    var a = (D.answers[inp.model] || {})[inp.gpu];
    if (!a) { return {error: "no law for model " + inp.model + " on GPU " + inp.gpu}; }
    if (a.error) { return {error: a.error}; }
    var law = D.laws[a.law];
    var cells = ((D.configs[inp.model] || {})[inp.gpu] || {})[String(inp.resolution)];
    if (!cells) { return {error: "resolution " + inp.resolution + " px is not offered for " + inp.model}; }
    var di = D.dtypes.indexOf(inp.dtype), bi = D.batches.indexOf(inp.batch);
    if (di < 0 || bi < 0) { return {error: "precision " + inp.dtype + " or batch " + inp.batch + " is not offered"}; }
    if (!(inp.steps >= 1 && Math.floor(inp.steps) === inp.steps)) { return {error: "steps must be a whole number >= 1 (got " + inp.steps + ")"}; }
    if (!(inp.images >= 0)) { return {error: "images per day must be a number >= 0"}; }
    if (!(inp.intensity >= 0)) { return {error: "grid intensity must be a number >= 0 (g CO2e/kWh)"}; }
    var util = inp.utilisation === undefined ? 0.5 : inp.utilisation;
    if (!(util > 0 && util <= 1)) { return {error: "utilisation must be a fraction in (0, 1] (got " + util + ")"}; }
    var c = cells[di * 2 * D.batches.length + inp.cfg * D.batches.length + bi];
    if (typeof c === "number") { return {error: D.errors[c], law: law.name, reason: a.reason}; }
    /* GPU and host seconds and busy energy per image, affine in T (calculator._compile) */
    var wall = wallTime(c[0] + c[1] * inp.steps, c[2] + c[3] * inp.steps, law.smooth);
    var j = netEnergy(wall, c[4], c[5] + c[6] * inp.steps, c[7]);
    if (!(j > 0)) { return {error: "the law gives no positive energy at " + inp.steps + " steps"}; }
    var far = distance(law, inp.gpu, inp.resolution, inp.steps, inp.batch);
    var q = Math.hypot(law.q, (law.q_beyond || 0) * far), qt = Math.hypot(law.q_time, (law.q_time_beyond || 0) * far);
    var qg = Math.hypot(law.q_gross, (law.q_gross_beyond || 0) * far);
    var lo = j * Math.exp(-q), hi = j * Math.exp(q);
    /* the planned GPUs (planner.plan): whole GPUs for the busy hours at the utilisation; their idle power all day */
    var idle = D.gpu_specs[inp.gpu].idle_w, busyH = wall * inp.images / 3600;
    var gpus = Math.ceil(busyH / (24 * util)), idleKwh = idle * 24 * gpus / 1000;
    var r = {law: law.name, reason: a.reason, per_image_j: j, per_image_j_low: lo, per_image_j_high: hi,
             per_image_s: wall, gpus_needed: gpus, idle_w: idle, idle_source: D.gpu_specs[inp.gpu].idle_source,
             gross_wh_per_image: (j + idle * wall) / D.j_per_wh, idle_kwh_per_day: idleKwh - idle * busyH / 1000,
             gross_wh_per_image_low: (j + idle * wall) / D.j_per_wh * Math.exp(-qg),
             gross_wh_per_image_high: (j + idle * wall) / D.j_per_wh * Math.exp(qg),
             per_image_s_low: wall * Math.exp(-qt), per_image_s_high: wall * Math.exp(qt),
             extrapolation: extrapolation(law, inp.model, inp.gpu, inp.resolution, inp.resolution, inp.steps,
                                          inp.dtype, inp.cfg, inp.batch)};
    [["", j], ["_low", lo], ["_high", hi]].forEach(function (p) {
      var net = p[1] / D.j_per_wh, kwh = net * inp.images / 1000 + idleKwh, wh = kwh * 1000 / inp.images;
      r["net_wh_per_image" + p[0]] = net;
      r["wh_per_image" + p[0]] = wh;
      r["kwh_per_day" + p[0]] = kwh;
      r["mwh_per_year" + p[0]] = kwh * 365 / 1000;
      r["g_co2e_per_image" + p[0]] = wh / 1000 * inp.intensity;
      r["t_co2e_per_year" + p[0]] = kwh * 365 * inp.intensity / 1e6;
    });
    return r;
  }

  function inputs(form) {
    return {model: form.model.value, gpu: form.gpu.value, resolution: parseInt(form.resolution.value, 10),
            steps: Number(form.steps.value), dtype: form.dtype.value, cfg: parseInt(form.cfg.value, 10),
            batch: parseInt(form.batch.value, 10), images: Number(form.images.value),
            intensity: Number(form.intensity.value), utilisation: Number(form.utilisation.value)};
  }

  var ROWS = [["wh_per_image", "energy the GPUs draw, per image", "Wh"],
              ["net_wh_per_image", "of which the work, net of idle power (the paper's footing)", "Wh"],
              ["per_image_j", "the same, net per image", "J"],
              ["gross_wh_per_image", "the work with idle power while working (gross: a meter during the work)", "Wh"],
              ["kwh_per_day", "energy the GPUs draw per day", "kWh"], ["mwh_per_year", "energy per year", "MWh"],
              ["g_co2e_per_image", "carbon per image", "g CO2e"], ["t_co2e_per_year", "carbon per year", "t CO2e"]];

  /* The answer as HTML: a table of every quantity with its interval, the law and the extrapolation warnings. */
  function show(r) {
    if (r.error) { return '<p class="enb-error" data-out="error">Cannot answer: ' + esc(r.error) + "</p>"; }
    var rows = ROWS.map(function (k) {
      var lowKey = k[0] === "per_image_j" ? "per_image_j_low" : k[0] + "_low";
      var highKey = k[0] === "per_image_j" ? "per_image_j_high" : k[0] + "_high";
      function cell(key) {  /* a value without an interval bound leaves its cell empty */
        return r[key] === undefined ? "<td></td>" :
          '<td data-out="' + key + '" data-value="' + r[key] + '">' + fmt(r[key]) + "</td>";
      }
      return "<tr><td>" + k[1] + " (" + k[2] + ")</td>" + cell(k[0]) + cell(lowKey) + cell(highKey) + "</tr>";
    }).join("");
    var warn = r.extrapolation.length ? '<p class="enb-warn" data-out="extrapolation">Extrapolating: ' +
      r.extrapolation.map(esc).join("; ") + ".</p>" : '<p class="enb-warn" data-out="extrapolation"></p>';
    return '<table class="enb-table"><thead><tr><th>quantity</th><th>estimate</th><th>95% low</th>' +
      "<th>95% high</th></tr></thead><tbody>" + rows + "</tbody></table>" +
      '<p class="enb-fleet">GPUs: <span data-out="gpus_needed" data-value="' + r.gpus_needed + '">' + r.gpus_needed +
      "</span> at the utilisation given (" + fmt(r.per_image_s) + " s per image), idle " + fmt(r.idle_kwh_per_day) +
      " kWh/day while waiting. Idle power per GPU: " + esc(r.idle_source) + ".</p>" +
      '<p class="enb-law">Law: <code data-out="law">' + esc(r.law) + "</code> (" + esc(r.reason) + ")</p>" + warn;
  }

  function start(data, form, out) {
    D = data;
    var models = Object.keys(D.models);
    function render() {
      var r = answer(inputs(form));
      out.innerHTML = show(r);
    }
    function onModel() {
      var info = D.models[form.model.value];
      opt(form.resolution, info.resolutions);
      var best = info.resolutions.reduce(function (b, x) { return Math.abs(x - info.height) < Math.abs(b - info.height) ? x : b; });
      form.resolution.value = String(best);
      form.steps.value = String(info.steps);
      form.cfg.value = info.cfg ? "1" : "0";
    }
    opt(form.model, models, models.map(function (m) { return D.models[m].name + " (" + m + ")"; }));
    opt(form.gpu, D.gpus);
    opt(form.dtype, D.dtypes);
    opt(form.batch, D.batches);
    form.intensity.value = String(D.world_g_per_kwh);
    form.model.value = models.indexOf("flux") >= 0 ? "flux" : models[0];
    onModel();
    form.addEventListener("change", function (e) { if (e.target === form.model) { onModel(); } render(); });
    form.addEventListener("input", render);
    window.enbCalc = {answer: answer, render: render, data: D};
    render();
  }

  if (typeof module === "object" && module.exports) {  /* node: the tests */
    module.exports = function (data) { D = data; return {answer: answer, extrapolation: extrapolation}; };
    return;
  }
  var root = document.getElementById("enb-calc-data");
  if (root) { start(JSON.parse(root.textContent), document.getElementById("enb-calc"), document.getElementById("enb-calc-out")); }
})();
