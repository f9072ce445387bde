// The page: fetches the bundle and archive (with progress), hands bytes to the wasm Engine and
// Archive, and draws what they return. All model and search logic lives in Rust (web/src).
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  // ?backend=auto|webgpu|cpu picks where the network runs; ?bundle=path/ where the bundle is.
  const preference = params.get("backend") || "auto";
  const bundleBase = params.get("bundle") || "bundle/";
  const RESULTS = 12;


  const $ = (id) => document.getElementById(id);
  const state = { engine: null, catalog: null, archive: null, config: null, timings: {}, firstModelMs: null, ready: null };
  // Class names and explanations come from the bundle (bundle.json's class_info).
  const info = (c) => (state.config.class_info || []).find((x) => x.id === c) || { id: c, name: c, description: "" };
  const nice = (c) => info(c).name;
  const article = (w) => (/^[aeiou]/i.test(w) ? "an" : "a");
  const pct0 = (p) => `${(p * 100).toFixed(0)}%`;
  const ms = (x) => (x < 10 ? x.toFixed(1) : Math.round(x)) + " ms";

  function showError(message, hint) {
    const box = $("error");
    box.hidden = false;
    box.textContent = hint ? `${message} — ${hint}` : message;
  }
  function clearError() { $("error").hidden = true; }

  function progress(text, fraction) {
    $("load-label").textContent = text;
    const bar = $("load-progress");
    if (fraction === null) bar.removeAttribute("value"); else bar.value = fraction;
  }

  // A single-file build (aurora-hash site --single-file) carries every file inline, base64, by
  // the URL the page would fetch; from file:// nothing can be fetched.
  const embedded = window.AURORA_FILES || null;
  const fromBase64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  // Logical file name → URL, from the manifest (a published site uses content-hashed names).
  const paths = {};
  // Logical file name → its size in bytes, from the manifest.
  const sizes = {};
  const urlOf = (name) => bundleBase + (paths[name] || name);
  // Thumbnails: a URL on a site, a data: URL in a single file.
  const thumbUrl = (thumb) => {
    const key = bundleBase + thumb;
    return embedded ? (embedded[key] ? `data:image/jpeg;base64,${embedded[key]}` : "") : key;
  };

  // Fetches one file of the bundle as bytes, reporting progress; errors name the file.
  async function fetchBytes(name, what, optional = false) {
    const url = urlOf(name);
    if (embedded) {
      const b64 = embedded[bundleBase + name];
      if (b64 === undefined) {
        if (optional) return null;
        throw new Error(`${name}: not in this file`);
      }
      return fromBase64(b64);
    }
    return fetchUrl(url, what, sizes[name], optional);
  }

  // Fetches a URL as bytes with a progress bar (none when `what` is null); `size` is the
  // expected size when known.
  async function fetchUrl(url, what, size, optional = false) {
    let response;
    try {
      response = await fetch(url, { cache: url.endsWith("manifest.json") ? "no-cache" : "default" });
    } catch (e) {
      throw new Error(`${url}: could not be fetched (${e.message}). Is the server still running?`);
    }
    if (!response.ok) {
      if (optional && response.status === 404) return null;
      throw new Error(`${url}: the server answered ${response.status} ${response.statusText}`);
    }
    // With a compressing host (the .br / .gz copies `site` writes) Content-Length counts the
    // compressed bytes while the reader yields decompressed ones: the manifest's size is the
    // one to count against, and without either the bar just runs.
    const encoded = response.headers.get("content-encoding");
    const total = size || (encoded ? 0 : Number(response.headers.get("content-length")) || 0);
    const reader = response.body.getReader();
    const parts = [];
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      got += value.byteLength;
      const known = total && got <= total;
      if (what) progress(`Loading ${what}: ${(got / 1e6).toFixed(1)}${known ? ` of ${(total / 1e6).toFixed(1)}` : ""} MB`, known ? got / total : null);
    }
    const bytes = new Uint8Array(got);
    let at = 0;
    for (const p of parts) { bytes.set(p, at); at += p.byteLength; }
    return bytes;
  }

  // The wasm module this visit needs (web/gpu or web/cpu, built by trunk from index.html): the
  // WebGPU one only where the browser has WebGPU and the CPU was not asked for, since a
  // visitor on the CPU path need not download the GPU code. A single file (site
  // --single-file) carries the WebGPU module, which has the CPU path too.
  const MODULE = embedded || (preference !== "cpu" && "gpu" in navigator) ? "aurora-hash-web-gpu" : "aurora-hash-web-cpu";
  // The archive's search, a small module of its own in its own worker (web/search): it never
  // waits behind an inference, and calls into the WebGPU module's worker measured several
  // times slower than into a small module's (README, "The browser client").
  const SEARCH = "aurora-hash-web-search";
  const dataUrl = (b64) => `data:text/javascript;base64,${b64}`;

  // Each module runs in a Web Worker (web/worker.js): inference and search never block the
  // page. Its objects (Engine; Catalog and Archive) are used through stand-ins whose methods
  // return promises. Where no worker can start (a single file from file://) the same host
  // runs in the page. `role` names the module in errors.
  async function connect(role) {
    const pending = new Map();
    let lastId = 0;
    const settle = ({ id, result, error, trap }) => {
      const p = pending.get(id);
      pending.delete(id);
      if (error === undefined) p.resolve(result);
      else p.reject(trap ? new WebAssembly.RuntimeError(error) : new Error(error));
    };
    let send;
    if (!embedded && typeof Worker !== "undefined") {
      const worker = new Worker("worker.js", { type: "module" });
      worker.onmessage = (e) => settle(e.data);
      // A worker that fails to start or dies fails every call still waiting.
      worker.onerror = (e) => {
        e.preventDefault();
        for (const id of [...pending.keys()]) settle({ id, error: `the ${role}'s worker failed (${e.message || "worker.js could not start"})` });
      };
      send = (m, transfer) => worker.postMessage(m, transfer);
      state.worker = true;
    } else {
      const { host, reply } = await import(embedded ? dataUrl(embedded["worker.js"]) : "./worker.js");
      const answer = host();
      send = (m) => answer(m).then((result) => settle({ id: m.id, result }), (e) => settle(reply(m.id, e)));
      state.worker = false;
    }
    const call = (m, transfer = []) => new Promise((resolve, reject) => {
      const id = ++lastId;
      pending.set(id, { resolve, reject });
      send({ ...m, id }, transfer);
    });
    const handles = new WeakMap();
    const lift = (v) => (v && typeof v === "object" && "__handle" in v ? remote(v.__handle) : v);
    function remote(target) {
      const stand = new Proxy({}, {
        get: (_, method) => {
          if (method === "then" || typeof method === "symbol") return undefined;
          if (method === "free") return () => call({ op: "free", target });
          return (...args) => call({ op: "call", target, method, args: args.map((a) => (handles.has(a) ? { __handle: handles.get(a) } : a)) }).then(lift);
        },
      });
      handles.set(stand, target);
      return stand;
    }
    return { call, remote };
  }

  // Starts one module in its worker; `what` names it in the progress bar (null: no bar).
  async function loadModule(name, role, what) {
    try {
      const host = await connect(role);
      const glue = embedded ? dataUrl(embedded[`${name}.js`]) : new URL(`${name}.js`, location.href).href;
      const wasm = embedded ? fromBase64(embedded[`${name}_bg.wasm`]) : await fetchUrl(`${name}_bg.wasm`, what);
      if (what) progress("Starting the program…", null);
      await host.call({ op: "init", args: [glue, wasm] }, [wasm.buffer]);
      return host;
    } catch (e) {
      throw new Error(`${name}: the program could not load (${e.message}); if it keeps failing, this browser may be too old for WebAssembly`);
    }
  }

  // The network's module and the search's, fetched and started side by side. Without the
  // search's module the page still classifies photos; only the archive is missing.
  async function loadModules() {
    progress("Loading the program…", null);
    const [engine, search] = await Promise.allSettled([loadModule(MODULE, "engine", "the program"), loadModule(SEARCH, "search", null)]);
    if (engine.status === "rejected") throw engine.reason;
    const found = search.status === "fulfilled" ? search.value : null;
    return {
      Engine: engine.value.remote("Engine"),
      Catalog: found && found.remote("Catalog"),
      Archive: found && found.remote("Archive"),
      searchError: found ? null : search.reason,
    };
  }

  // A panic inside the wasm module leaves it unusable; on WebGPU the cure is the CPU path, so
  // the page reloads itself on it and says why.
  // A trap, or numbers no network can produce (web/src/engine.rs: INVALID).
  function isTrap(e) { return e instanceof WebAssembly.RuntimeError || String(e.message).startsWith("invalid result"); }
  function fallBackToCpu(e) {
    const next = new URL(location.href);
    next.searchParams.set("backend", "cpu");
    next.searchParams.set("fallback", `WebGPU failed (${e.message})`);
    location.replace(next.toString());
  }
  async function guarded(work) {
    try {
      return await work();
    } catch (e) {
      if (isTrap(e) && state.engine && state.backend === "WebGPU" && preference !== "webgpu") {
        fallBackToCpu(e);
      }
      throw e;
    }
  }

  async function load() {
    const t = performance.now();
    const bindings = state.bindings = await loadModules();
    state.timings.module = performance.now() - t;
    const { Engine, Catalog } = bindings;
    const manifest = await fetchBytes("manifest.json", "the model's manifest");
    let listed;
    try {
      listed = JSON.parse(new TextDecoder().decode(manifest));
    } catch (e) {
      throw new Error(`${urlOf("manifest.json")}: not a bundle manifest (${e.message})`);
    }
    for (const f of listed.files || []) {
      if (f.path) paths[f.name] = f.path;
      if (f.size) sizes[f.name] = f.size;
    }
    state.originals = embedded ? null : listed.originals || null;
    const config = await fetchBytes("bundle.json", "the model's settings");
    const weights = await fetchBytes("model.bpk", "the model");
    progress(preference === "cpu" ? "Starting the model on the CPU…" : "Starting the model (WebGPU if this browser has it)…", null);
    const t0 = performance.now();
    try {
      state.engine = await Engine.load(manifest, config, weights, preference);
      state.backend = await state.engine.backend();
    } catch (e) {
      if (isTrap(e) && preference !== "cpu" && preference !== "webgpu") fallBackToCpu(e);
      throw e;
    }
    state.timings.load = performance.now() - t0;
    state.config = JSON.parse(await state.engine.config_json());
    // The same manifest and bundle.json, read again by the search's module to check the
    // archive's files against them.
    state.catalog = Catalog ? await Catalog.open(manifest, config) : null;
    const fallback = params.get("fallback");
    const note = fallback ? `${fallback}: using the CPU, slower` : await state.engine.backend_note();
    const line = $("backend");
    line.hidden = false;
    line.textContent = `Model runs on ${state.backend}${note ? ` — ${note}` : ""}. Loaded in ${ms(state.timings.load)}.`;
    line.classList.toggle("fallback", Boolean(note));
    $("about-model").textContent = `This model: ${state.config.model.bits}-bit codes, ${state.config.model.input_size} px input, ${state.config.weights_dtype} weights (${state.config.provenance}).`;

    const shards = state.catalog ? (listed.files || []).map((f) => f.name).filter((n) => /^shard-\d+\.idx$/.test(n)).sort() : [];
    if (!state.catalog) {
      state.archiveNote = "no similar images: the archive's search could not load";
      showError(`The archive's search could not load (${bindings.searchError.message})`, "photos are classified, but similar images cannot be shown");
      state.complete = Promise.resolve();
    } else if (shards.length) {
      // A big archive: the first shard makes the page usable, the rest load behind it.
      const first = await fetchBytes(shards[0], `the archive (part 1 of ${shards.length})`);
      state.archive = await state.catalog.open_shard(shards[0], first);
      state.archiveLength = await state.archive.len();
      state.timings.first_shard = performance.now();
      state.complete = loadShards(shards.slice(1), shards.length);
      await setUpBrowsing();
    } else {
      const index = await fetchBytes("archive.idx", "the archive", true);
      if (index) {
        state.archive = await state.catalog.open_archive(index);
        state.archiveLength = await state.archive.len();
        await setUpBrowsing();
      } else {
        state.archiveNote = "no similar images: this bundle has no archive";
        showError("This bundle has no archive index", "photos are classified, but there is nothing to search");
      }
      state.complete = Promise.resolve();
    }
    // A sharded archive keeps its progress bar until the last shard is in (loadShards).
    $("loading").hidden = shards.length <= 1;
    $("input").hidden = false;
    state.loaded = true;
    return {
      backend: state.backend,
      worker: state.worker,
      note,
      load_ms: state.timings.load,
      archive: state.archive ? state.archiveLength : 0,
      classes: state.config.classes,
    };
  }

  // The remaining shards, one after another; search covers what has arrived.
  async function loadShards(names, total) {
    for (const [i, name] of names.entries()) {
      const bytes = await fetchBytes(name, `the archive (part ${i + 2} of ${total}, ${state.archiveLength.toLocaleString()} images so far)`);
      const shard = await state.catalog.open_shard(name, bytes);
      await state.archive.append(shard);
      await shard.free();
      state.archiveLength = await state.archive.len();
    }
    state.timings.all_shards = performance.now();
    $("loading").hidden = true;
    if (state.rerun) await state.rerun();
    browsing.done = browse();
  }

  // Ids (and so thumbnails and names) of a sharded archive arrive per shard, when shown.
  const idsLoaded = new Map();
  function loadIds(shard) {
    if (!idsLoaded.has(shard)) {
      const name = `ids-${String(shard).padStart(4, "0")}.json`;
      idsLoaded.set(shard, fetchBytes(name, "image names").then(async (bytes) => {
        await state.catalog.verify(name, bytes);
        await state.archive.set_ids(shard, bytes);
      }));
    }
    return idsLoaded.get(shard);
  }
  async function withIds(run) {
    // Shards can arrive while ids are fetched, bringing new results: ask again until complete.
    for (;;) {
      const r = JSON.parse(await run());
      const missing = [...new Set((r.hits || r.items).filter((h) => !h.id).map((h) => h.shard))];
      if (!missing.length) return r;
      await Promise.all(missing.map(loadIds));
    }
  }

  // `answer` (from the engine, the same code as `aurora-hash query`): calibrated
  // probabilities, whether the top two are too close to call, and whether the picture looks
  // like the frames the model learned from. Without it (an archive image) only the class.
  function showVerdict(classIndex, answer, caption, imgSrc) {
    const classes = state.config.classes;
    const name = classes[classIndex];
    const probabilities = answer ? answer.probabilities : null;
    $("query-img").src = imgSrc;
    $("query-caption").textContent = caption;
    let text;
    if (!answer) {
      text = `Archive image predicted as ${nice(name)}`;
    } else if (answer.ambiguous) {
      const other = classes[answer.runner_up];
      text = `${nice(name)} or ${nice(other)}: the model cannot tell (${pct0(probabilities[classIndex])} / ${pct0(probabilities[answer.runner_up])})`;
    } else {
      text = `This looks like ${article(nice(name))} ${nice(name)} (${pct0(probabilities[classIndex])})`;
    }
    $("verdict").textContent = text;
    $("verdict").dataset.class = name;
    const ood = $("ood");
    ood.hidden = !(answer && answer.out_of_domain);
    $("verdict").dataset.outOfDomain = answer && answer.out_of_domain ? "true" : "false";
    $("explain").textContent = info(name).description;
    const list = $("probs");
    list.replaceChildren();
    for (const [i, c] of classes.entries()) {
      if (!probabilities) break;
      const li = document.createElement("li");
      const pct = probabilities[i] * 100;
      li.innerHTML = `<span></span><span class="track"><span class="bar" style="display:block;width:${pct.toFixed(1)}%"></span></span><span>${pct.toFixed(1)}%</span>`;
      li.firstChild.textContent = nice(c);
      li.setAttribute("aria-label", `${nice(c)}: ${pct.toFixed(1)} percent`);
      list.append(li);
    }
    $("result").hidden = false;
  }

  function describeHit(hit) {
    const classes = state.config.classes;
    const parts = [nice(classes[hit.predicted])];
    if (hit.label !== null && hit.label !== undefined) parts.push(`labelled ${nice(classes[hit.label])}`);
    if (hit.timestamp !== null && hit.timestamp !== undefined) {
      parts.push(new Date(hit.timestamp * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC");
    }
    return parts.join(" · ");
  }

  function showHits(results) {
    fillGrid($("hits"), results.hits, true);
    $("similar").hidden = results.hits.length === 0;
  }

  // A grid of archive images as buttons; choosing one searches by it.
  function fillGrid(list, hits, withDistance) {
    list.replaceChildren();
    for (const hit of hits) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.index = hit.index;
      b.dataset.id = hit.id;
      b.dataset.distance = hit.distance;
      b.dataset.predicted = state.config.classes[hit.predicted];
      if (hit.label !== null) b.dataset.label = state.config.classes[hit.label];
      if (hit.timestamp !== null) b.dataset.timestamp = hit.timestamp;
      const img = document.createElement("img");
      img.src = hit.thumb ? thumbUrl(hit.thumb) : "";
      img.addEventListener("error", () => { img.style.visibility = "hidden"; });
      img.alt = hit.id;
      img.loading = "lazy";
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.innerHTML = `<span class="dist"></span> <span class="id"></span><br><span class="what"></span>`;
      meta.querySelector(".dist").textContent = withDistance ? `distance ${hit.distance}` : "";
      meta.querySelector(".id").textContent = hit.id.split("/").pop();
      meta.querySelector(".what").textContent = describeHit(hit);
      b.setAttribute("aria-label", `${hit.id}${withDistance ? `, distance ${hit.distance}` : ""}, ${describeHit(hit)}. Search by this image.`);
      b.append(img, meta);
      b.addEventListener("click", () => searchByEntry(hit));
      li.append(b);
      list.append(li);
    }
  }

  // Browsing the archive: pages of thumbnails, filtered by class and time.
  const PAGE = 48;
  const browsing = { offset: 0 };
  async function setUpBrowsing() {
    const select = $("browse-class");
    for (const [i, c] of state.config.classes.entries()) {
      const o = document.createElement("option");
      o.value = i;
      o.textContent = nice(c);
      select.append(o);
    }
    const range = JSON.parse(await state.archive.time_range());
    $("browse-times").hidden = !range;
    if (range) {
      const day = (t) => new Date(t * 1000).toISOString().slice(0, 10);
      for (const id of ["browse-from", "browse-to"]) { $(id).min = day(range[0]); $(id).max = day(range[1]); }
    }
    for (const id of ["browse-class", "browse-by", "browse-from", "browse-to"]) {
      $(id).addEventListener("change", () => { browsing.offset = 0; browsing.done = browse(); });
    }
    $("browse-prev").addEventListener("click", () => { browsing.offset = Math.max(0, browsing.offset - PAGE); browsing.done = browse(); });
    $("browse-next").addEventListener("click", () => { browsing.offset += PAGE; browsing.done = browse(); });
    $("browse").hidden = false;
    browsing.done = browse();
  }

  async function browse() {
    const from = $("browse-from").value ? Date.parse($("browse-from").value + "T00:00:00Z") / 1000 : -Infinity;
    const to = $("browse-to").value ? Date.parse($("browse-to").value + "T23:59:59Z") / 1000 : Infinity;
    const page = await withIds(() => state.archive.browse(browsing.offset, PAGE, Number($("browse-class").value), $("browse-by").value === "label", from, to));
    fillGrid($("browse-grid"), page.items, false);
    const first = page.total ? browsing.offset + 1 : 0;
    $("browse-count").textContent = `${first}–${browsing.offset + page.items.length} of ${page.total.toLocaleString()} images`;
    $("browse-prev").disabled = browsing.offset === 0;
    $("browse-next").disabled = browsing.offset + PAGE >= page.total;
  }

  function showTimings(parts) {
    $("timings").textContent = parts.filter(Boolean).join(" · ");
  }

  async function classifyBytes(bytes) {
    return guarded(async () => {
      const r = JSON.parse(await state.engine.classify(bytes));
      if (state.firstModelMs === null) state.firstModelMs = r.model_ms;
      return r;
    });
  }

  async function search(code, soft) {
    return state.archive ? withIds(() => state.archive.search(code, soft, RESULTS, -1, 0xffffffff)) : { hits: [], search_ms: 0, searched: 0 };
  }

  async function onFile(file) {
    if (!file) return;
    clearError();
    if (!state.loaded) {
      // Dropped while the model loads: answered once it is ready, not ignored.
      $("verdict").textContent = "Waiting for the model to load…";
      $("result").hidden = false;
      await state.ready.catch(() => {});
      if (!state.loaded) return;
    }
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      $("verdict").textContent = "Looking…";
      const r = await classifyBytes(bytes);
      showVerdict(r.class, r.answer, `${file.name} · ${r.width}×${r.height} px`, URL.createObjectURL(file));
      $("original").hidden = true;
      state.rerun = async () => {
        const results = await search(r.code, r.soft);
        showHits(results);
        showTimings([
          `decode ${ms(r.decode_ms)}`,
          `inference ${ms(r.model_ms)} on ${state.backend}`,
          state.archive ? `search ${ms(results.search_ms)} over ${results.searched.toLocaleString()} images` : state.archiveNote,
        ]);
      };
      await state.rerun();
    } catch (e) {
      $("result").hidden = true;
      showError(`${file.name}: ${e.message}`, "try another photo (PNG, JPEG, WebP, GIF, BMP or TIFF)");
    }
  }

  async function searchByEntry(hit) {
    clearError();
    state.rerun = () => searchByEntry(hit);
    const results = await withIds(() => state.archive.search_entry(hit.index, RESULTS, -1, 0xffffffff));
    showVerdict(hit.predicted, null, `${hit.id} · ${describeHit(hit)}`, thumbUrl(hit.thumb));
    const link = $("original");
    link.hidden = !state.originals;
    if (state.originals) {
      // Relative to the manifest, unless the site links originals elsewhere (an absolute URL).
      const base = /^([a-z]+:)?\/\//i.test(state.originals) || state.originals.startsWith("/") ? state.originals : bundleBase + state.originals;
      link.href = base + hit.id.split("/").map(encodeURIComponent).join("/");
    }
    showHits(results);
    showTimings([`search ${ms(results.search_ms)} over ${results.searched.toLocaleString()} images (stored code, no inference)`]);
    $("result").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function wireInput() {
    for (const id of ["file", "camera"]) {
      $(id).addEventListener("change", (e) => { onFile(e.target.files[0]); e.target.value = ""; });
    }
    const drop = $("drop");
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      onFile(e.dataTransfer.files[0]);
    });
    drop.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); }
    });
    // Pasting an image (Ctrl+V) works too.
    addEventListener("paste", (e) => {
      const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
      if (item) onFile(item.getAsFile());
    });
  }

  // A published site (aurora-hash site) ships sw.js: it caches the site for offline use.
  function offline() {
    if (embedded || !("serviceWorker" in navigator) || !location.protocol.startsWith("http")) return;
    fetch("sw.js", { method: "HEAD" }).then((r) => {
      if (!r.ok) return;
      navigator.serviceWorker.register("sw.js").catch((e) => console.warn("offline copy unavailable:", e));
      // The service worker keeps the wasm modules the page used when they pass through it,
      // but on a first visit they were fetched before the worker took over: fetch them again
      // (from the browser's cache, mostly) once the worker controls the page.
      const keep = () => { for (const m of [MODULE, SEARCH]) for (const f of [`${m}.js`, `${m}_bg.wasm`]) fetch(f).catch(() => {}); };
      if (navigator.serviceWorker.controller) keep();
      else navigator.serviceWorker.addEventListener("controllerchange", keep, { once: true });
    }, () => {});
  }

  function start() {
    wireInput();
    offline();
    state.ready = load().catch((e) => {
      $("loading").hidden = true;
      showError(e.message, "reload the page; if it keeps failing, the site's files may be incomplete");
      throw e;
    });
    // Hooks for the end-to-end tests and the speed benchmark (tests/ drive them through WebDriver).
    window.aurora = {
      ready: state.ready,
      async classifyUrl(url) {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        const r = await classifyBytes(bytes);
        return { ...r, search: await search(r.code, r.soft) };
      },
      // Search with a code (hex) and optionally its outputs (hex; "": ties in archive order)
      // over everything loaded, with the archive's ids filled in.
      searchCode: (code, soft = "") => search(code, soft),
      complete: () => state.complete,
      timings: () => state.timings,
      // Resolves when the browse grid shows the latest filter's page.
      browsed: () => browsing.done,
      firstModelMs: () => state.firstModelMs,
      // The speed benchmark lives in bench.js, fetched only when a benchmark asks for it.
      bench: async (options) => (await import("./bench.js")).bench({ bindings: state.bindings, state, guarded, preference, classifyBytes }, options),
    };
  }

  // The script sits in the page's head (and inline in a single file): start once the page exists.
  if (document.readyState === "loading") addEventListener("DOMContentLoaded", start, { once: true });
  else start();
})();
