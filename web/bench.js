// The page's speed benchmark (model-export/tests/browser.rs, browser_speed_table): not part of
// the page a visitor runs; app.js imports it only when a benchmark calls window.aurora.bench.
// Speed figures for the table: model load, first (shader compile) and warm inference
// of the demo model and of the paper's full-size network at 224 px, the longest main-thread
// task while the page answers a photo, and search over random archives of 100k and 1M codes.
export async function bench({ bindings, state, guarded, preference, classifyBytes }, { size = 224, bits = 48, warm = 5, queries = 20 } = {}) {
  const { Engine, Archive } = bindings;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const grey = await testImage(size);
  const out = { backend: state.backend, worker: state.worker, demo_load_ms: state.timings.load, module_ms: state.timings.module };

  // The longest task on the page's main thread while the page answers photos (the demo model
  // through the page's own path, then the full-size network at 224 px), from the browser's
  // long-task timing, which reports every task over 50 ms.
  const tasks = [];
  const observer = new PerformanceObserver((list) => tasks.push(...list.getEntries()));
  observer.observe({ type: "longtask" });
  const demoImage = await testImage(state.config.model.input_size);
  for (let i = 0; i < 3; i++) await classifyBytes(demoImage);

  // The full-size network (its runs are watched for long tasks too).
  const full = await guarded(() => Engine.untrained(size, bits, preference));
  const runs = [];
  for (let i = 0; i <= warm; i++) {
    const t0 = performance.now();
    JSON.parse(await full.classify(grey));
    runs.push(performance.now() - t0);
  }
  await new Promise((r) => setTimeout(r, 100));
  observer.disconnect();
  out.long_tasks = tasks.length;
  out.longest_task_ms = tasks.reduce((m, t) => Math.max(m, t.duration), 0);
  out.full_first_ms = runs[0];
  out.full_warm_ms = median(runs.slice(1));
  await full.free();
  for (const n of [100000, 1000000]) {
    const archive = await Archive.random(n, bits, 7);
    const probe = await Archive.random(queries, bits, 11);
    const codes = [];
    for (let q = 0; q < queries; q++) codes.push(await probe.code(q));
    // As the page sees it (a message to the search's worker and back), and inside the module.
    const times = [];
    const inside = [];
    for (const code of codes) {
      const t0 = performance.now();
      const r = JSON.parse(await archive.search(code, "", 10, -1, 0xffffffff));
      times.push(performance.now() - t0);
      inside.push(r.search_ms);
    }
    out[`search_${n}_ms`] = median(times);
    out[`search_${n}_engine_ms`] = median(inside);
    await archive.free();
    await probe.free();
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
