"""The one-page upload form of ``taxoclass serve`` (``GET /``): pick images, see each one's lineage with a
probability bar per level, the alternatives and the sure node. Plain HTML and JavaScript, no external files."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>taxoclass</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; padding: 0 1em; }
 h1 { font-size: 1.4em; } .muted { color: #666; font-size: .9em; }
 form { display: flex; gap: 1em; align-items: center; flex-wrap: wrap; padding: 1em; background: #f4f6f8;
        border-radius: 6px; }
 .card { display: flex; gap: 1.2em; border-bottom: 1px solid #ddd; padding: 1em 0; }
 .card img { width: 128px; height: 128px; object-fit: contain; background: #eee; border-radius: 4px; }
 .level { display: grid; grid-template-columns: 14em 1fr 4em; gap: .5em; align-items: center; margin: 2px 0; }
 .bar { background: #e3e7eb; border-radius: 3px; height: 1em; }
 .bar > div { background: #2b7bb9; height: 100%; border-radius: 3px; }
 .sure .bar > div { background: #3a9d5d; } .error { color: #b00020; }
</style></head><body>
<h1>taxoclass <span id="name" class="muted"></span></h1>
<p class="muted" id="about">Loading the model ...</p>
<form id="form">
 <input type="file" id="files" name="files" accept="image/*" multiple required>
 <label>sure at <input type="number" id="threshold" min="0" max="1" step="0.05" value="0.8"></label>
 <label>mode <select id="mode"></select></label>
 <button type="submit">Classify</button>
</form>
<div id="out"></div>
<p class="muted">JSON API: <code>POST /predict</code> (multipart field <code>files</code>), <code>GET /model</code>,
 <a href="/docs">OpenAPI docs</a>.</p>
<script>
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                                      "'": "&#39;"}[c]));
const pct = p => (100 * p).toFixed(1) + "%";
const bar = (label, p, cls) => `<div class="level ${cls || ""}"><span>${esc(label)}</span>
  <div class="bar"><div style="width:${pct(p)}"></div></div><span>${pct(p)}</span></div>`;
fetch("model").then(r => r.json()).then(m => {
  document.getElementById("name").textContent = m.name;
  document.getElementById("about").textContent = `${m.classes.length} classes, input ${m.input_spec.image_size}` +
    `x${m.input_spec.image_size}x${m.input_spec.channels}, taxoclass ${m.taxoclass_version}`;
  document.getElementById("mode").innerHTML = m.modes.map(x => `<option>${x}</option>`).join("");
});
document.getElementById("form").addEventListener("submit", async ev => {
  ev.preventDefault();
  const files = document.getElementById("files").files, out = document.getElementById("out");
  const body = new FormData();
  for (const f of files) body.append("files", f);
  const q = new URLSearchParams({threshold: document.getElementById("threshold").value,
                                 mode: document.getElementById("mode").value});
  out.innerHTML = "<p class='muted'>Classifying ...</p>";
  const r = await fetch("predict?" + q, {method: "POST", body});
  const j = await r.json();
  if (!r.ok) { out.innerHTML = `<p class="error">${esc(j.detail && j.detail.map ?
      j.detail.map(d => d.msg).join("; ") : j.detail)}</p>`; return; }
  out.innerHTML = j.predictions.map((p, i) => `<div class="card">
    <img src="${URL.createObjectURL(files[i])}" alt="${esc(p.file)}"><div style="flex: 1">
    <b>${esc(p.class)}</b> <span class="muted">${esc(p.file)}</span>
    ${p.lineage.map(l => bar(l.name, l.probability)).join("")}
    ${p.sure ? bar("sure: " + p.sure.node, p.sure.probability, "sure") : ""}
    <p class="muted">${p.top_k.map(t => `${esc(t.class)} ${pct(t.probability)}`).join(" &middot; ")}</p>
    </div></div>`).join("");
});
</script></body></html>
"""
