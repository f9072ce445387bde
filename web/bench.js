// The page's speed benchmark (model-export/tests/browser.rs, browser_speed_table): not part of
// the page a visitor runs; app.js imports it only when a benchmark calls window.aurora.bench.
// Speed figures for the table: model load, first (shader compile) and warm inference
// of the demo model and of the paper's full-size network at 224 px, and search over random
// archives of 100k and 1M codes.
export async function bench({ bindings, state, guarded, preference }, { size = 224, bits = 48, warm = 5, queries = 20 } = {}) {
  const { Engine, Archive } = bindings;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const grey = await testImage(size);
  const out = { backend: state.engine.backend(), demo_load_ms: state.timings.load };
  const full = await guarded(() => Engine.untrained(size, bits, preference));
  const runs = [];
  for (let i = 0; i <= warm; i++) {
    const t0 = performance.now();
    JSON.parse(await full.classify(grey));
    runs.push(performance.now() - t0);
  }
  out.full_first_ms = runs[0];
  out.full_warm_ms = median(runs.slice(1));
  full.free();
  for (const n of [100000, 1000000]) {
    const archive = Archive.random(n, bits, 7);
    const probe = Archive.random(queries, bits, 11);
    const codes = Array.from({ length: queries }, (_, q) => probe.code(q));
    const times = [];
    for (const code of codes) {
      const t0 = performance.now();
      archive.search(code, 10, -1, 0xffffffff);
      times.push(performance.now() - t0);
    }
    out[`search_${n}_ms`] = median(times);
    // The same queries timed as one batch: a per-call figure that no timer granularity or
    // per-call clamping of performance.now() can inflate.
    const t0 = performance.now();
    for (const code of codes) archive.search(code, 10, -1, 0xffffffff);
    out[`search_${n}_batch_ms`] = (performance.now() - t0) / codes.length;
    archive.free();
    probe.free();
  }
  return out;
}

// A synthetic grey test card as PNG bytes, drawn on a canvas (no file needed).
async function testImage(size) {
  const c = new OffscreenCanvas(size, size);
  const g = c.getContext("2d");
  const grad = g.createRadialGradient(size / 2, size / 2, 1, size / 2, size / 2, size / 2);
  grad.addColorStop(0, "#9f9"); grad.addColorStop(1, "#000");
  g.fillStyle = grad; g.fillRect(0, 0, size, size);
  const blob = await c.convertToBlob({ type: "image/png" });
  return new Uint8Array(await blob.arrayBuffer());
}
