//! The page in headless Chromium, driven through chromedriver (WebDriver): the same bundle and
//! archive the native tool writes, served by `aurora-hash serve`, checked against the native
//! `query` on WebGPU and on the CPU path.
//!
//! These tests need Chromium, chromedriver and the trunk-built page, so they are ignored by a
//! plain `cargo test`; `scripts/test.sh` builds the page and runs them (`--ignored`). Settings:
//! `AURORA_WEB_DIST` (the page, default `dist`), `CHROMEDRIVER`, `CHROMIUM`,
//! `AURORA_SCREENSHOTS` (where screenshots go, default the system temp folder).

#[path = "common/corpus.rs"]
mod corpus;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aurora-hash"))
}

fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().expect("run aurora-hash");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{cmd:?} failed:\n{text}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A free localhost port (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when the test ends, however it ends.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal WebDriver client: the handful of commands these tests use.
struct Browser {
    base: String,
    session: String,
    _driver: Guard,
    _profile: PathBuf,
}

impl Browser {
    fn start() -> Browser {
        let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromedriver} ({e}): install chromium-driver or set CHROMEDRIVER"));
        let driver = Guard(child);
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http("GET", &format!("{base}/status"), None, Duration::from_secs(2)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("aurora-chromium-{}-{port}", std::process::id()));
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--enable-unsafe-webgpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-quic".into(),
            "--window-size=1100,1400".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "timeouts": {"script": 600_000, "pageLoad": 120_000},
        }}});
        let v = post(&format!("{base}/session"), caps);
        let session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        Browser { base, session, _driver: driver, _profile: profile }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    /// Opens the page and waits for its wasm module and script to be running.
    fn goto(&self, url: &str) {
        post(&self.url("/url"), json!({ "url": url }));
        self.wait("window.aurora", "the page to start");
    }

    /// Runs `body` as an async function in the page and returns what it resolves to. A rejected
    /// promise fails the test with the page's error message.
    fn eval(&self, body: &str, args: Value) -> Value {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             (async (...args) => {{ {body} }})(...Array.from(arguments).slice(0, -1))
               .then((v) => done({{ ok: v === undefined ? null : v }}), (e) => done({{ err: String(e && e.stack || e) }}));"
        );
        let v = post(&self.url("/execute/async"), json!({ "script": script, "args": args }));
        if let Some(err) = v.get("err") {
            panic!("in the page: {}", err.as_str().unwrap_or_default());
        }
        v["ok"].clone()
    }

    fn find(&self, css: &str) -> String {
        let v = post(&self.url("/element"), json!({ "using": "css selector", "value": css }));
        v.as_object().and_then(|o| o.values().next()).and_then(|x| x.as_str()).unwrap_or_else(|| panic!("no element {css}: {v}")).to_string()
    }

    fn send_file(&self, css: &str, path: &Path) {
        let el = self.find(css);
        let text = path.canonicalize().unwrap().display().to_string();
        post(&self.url(&format!("/element/{el}/value")), json!({ "text": text }));
    }

    fn click(&self, css: &str) {
        let el = self.find(css);
        post(&self.url(&format!("/element/{el}/click")), json!({}));
    }

    /// Waits until `condition` (a JS expression) is truthy.
    fn wait(&self, condition: &str, what: &str) {
        let v = self.eval(
            &format!("const t0 = Date.now(); while (!({condition})) {{ if (Date.now() - t0 > 120000) return false; await new Promise((r) => setTimeout(r, 50)); }} return true;"),
            json!([]),
        );
        assert_eq!(v, json!(true), "timed out waiting for {what}");
    }

    fn screenshot(&self, path: &Path) {
        let v = get(&self.url("/screenshot"));
        let png = base64_decode(v.as_str().expect("base64 screenshot"));
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http("DELETE", &format!("{}/session/{}", self.base, self.session), None, Duration::from_secs(30));
    }
}

/// One HTTP/1.1 exchange with chromedriver on localhost (plain HTTP, `Connection: close`):
/// the status and the JSON body. WebDriver needs nothing more, and a client crate would pull
/// in dependencies that change the features burn is compiled with (see Cargo.toml).
fn http(method: &str, url: &str, body: Option<&Value>, timeout: Duration) -> Result<(u16, Value), String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: not an http:// URL"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| format!("{url}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        if path.is_empty() { "/" } else { path },
        payload.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| format!("{url}: {e}"))?;
    // chromedriver answers `Connection: close` but keeps the socket open, so the body is read by
    // its Content-Length (or to the last chunk) rather than to end of stream.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let (head, body_start) = loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase(), split + 4);
        }
        let n = stream.read(&mut buf).map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            return Err(format!("{url}: connection closed before the HTTP header ended"));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("{url}: bad status line"))?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let complete = |data: &[u8]| match length {
        Some(n) => data.len() >= n,
        None if chunked => data.windows(5).any(|w| w == b"0\r\n\r\n"),
        None => false,
    };
    while !complete(&raw[body_start..]) {
        let n = stream.read(&mut buf).map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let mut content = raw[body_start..].to_vec();
    if let Some(n) = length {
        content.truncate(n);
    } else if chunked {
        content = dechunk(&content);
    }
    let value = if content.is_empty() { Value::Null } else { serde_json::from_slice(&content).map_err(|e| format!("{url}: {e}"))? };
    Ok((status, value))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 || eol + 2 + size > data.len() {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}

fn reply(r: Result<(u16, Value), String>) -> Value {
    let (_, v) = r.unwrap_or_else(|e| panic!("webdriver: {e}"));
    if v["value"].get("error").is_some() {
        panic!("webdriver error: {}", v["value"]);
    }
    if v.get("sessionId").is_some() { v } else { v["value"].clone() }
}

fn post(url: &str, body: Value) -> Value {
    reply(http("POST", url, Some(&body), Duration::from_secs(900)))
}

fn get(url: &str) -> Value {
    reply(http("GET", url, None, Duration::from_secs(120)))
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= (val(c) as u32) << (18 - 6 * i);
        }
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// The demo's site, built small: a tiny model trained for a few epochs, its bundle, a synthetic
/// archive with thumbnails, held-out example frames, and the page; served on a free port.
struct Site {
    dir: PathBuf,
    examples: Vec<PathBuf>,
    /// A CIFAR-10 test photo on the server, and the native tool's answer for it.
    cifar: PathBuf,
    cifar_native: Value,
    url: String,
    _server: Guard,
}

/// The trunk-built page.
fn page_dist() -> PathBuf {
    let dist = std::env::var("AURORA_WEB_DIST").map(PathBuf::from).unwrap_or_else(|_| workspace().join("dist"));
    assert!(dist.join("index.html").is_file(), "{}: the page is not built (trunk build --release)", dist.display());
    dist
}

/// An empty scratch folder for one test.
fn fresh_dir(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("aurora-browser-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    root
}

fn build_site(name: &str) -> Site {
    let (root, dist) = (fresh_dir(name), page_dist());
    let run = root.join("run");
    run_ok(tool().args(["demo", "--run", run.to_str().unwrap(), "--per-class", "12", "--epochs", "6", "--device", "cpu", "--no-serve", "--web"]).arg(&dist));
    let dir = run.join("site");
    // The held-out frames go on the server too, so the page can fetch them by URL.
    let mut examples = Vec::new();
    for class in ["arc", "drapery", "radial", "hot_spot"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(run.join("examples").join(class)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            let target = dir.join("examples").join(class).join(f.file_name().unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&f, &target).unwrap();
            examples.push(target);
        }
    }
    // Read from ../shared at run time (never committed): a photo far from any all-sky frame.
    let cifar = dir.join("cifar-cat-0000.jpg");
    std::fs::copy(workspace().join("../shared/data/cifar10/test/cat/0000.jpg"), &cifar).expect("../shared/data/cifar10/test/cat/0000.jpg");
    let out = run_ok(tool().args(["query", "--bundle", dir.join("bundle").to_str().unwrap(), "--json", "--device", "cpu", "--k", "5"]).arg(&cifar));
    let cifar_native: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let (url, server) = serve(&dir);
    Site { dir, examples, cifar, cifar_native, url, _server: server }
}

/// `aurora-hash serve` on a free port: the URL and the process.
fn serve(dir: &Path) -> (String, Guard) {
    let mut child = tool().args(["serve", dir.to_str().unwrap(), "--port", "0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no URL in `{line}`")).to_string();
    (url, Guard(child))
}

/// The native tool's answers for the example frames: id → (class, code, neighbour ids).
fn native_answers(site: &Site, k: usize) -> HashMap<String, Value> {
    let mut cmd = tool();
    cmd.args(["query", "--bundle", site.dir.join("bundle").to_str().unwrap(), "--json", "--device", "cpu", "--k", &k.to_string()]);
    cmd.args(&site.examples);
    let out = run_ok(&mut cmd);
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            let rel = Path::new(v["image"].as_str().unwrap()).strip_prefix(&site.dir).unwrap().to_string_lossy().into_owned();
            (rel, v)
        })
        .collect()
}

fn bits_differing(a: &str, b: &str) -> u32 {
    assert_eq!(a.len(), b.len());
    (0..a.len() / 16).map(|i| (u64::from_str_radix(&a[i * 16..i * 16 + 16], 16).unwrap() ^ u64::from_str_radix(&b[i * 16..i * 16 + 16], 16).unwrap()).count_ones()).sum()
}

fn screenshots() -> PathBuf {
    let dir = std::env::var("AURORA_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir().join("aurora-hash-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "needs Chromium, chromedriver and the trunk-built page; scripts/test.sh runs it"]
fn page_matches_the_native_tool_on_webgpu_and_cpu() {
    let site = build_site("e2e");
    let k = 5;
    let native = native_answers(&site, k);
    let browser = Browser::start();
    let classes: Vec<String> = ["arc", "drapery", "radial", "hot_spot"].map(String::from).to_vec();
    let order = std::env::var("AURORA_BACKENDS").unwrap_or_else(|_| "webgpu,cpu".into());
    for backend in order.split(',') {
        browser.goto(&format!("{}?backend={backend}", site.url));
        let info = browser.eval("return await window.aurora.ready;", json!([]));
        let expected = if backend == "webgpu" { "WebGPU" } else { "CPU (wasm)" };
        assert_eq!(info["backend"], json!(expected), "{backend}: {info}");
        assert_eq!(info["archive"], json!(48), "{info}");
        assert_eq!(info["worker"], json!(true), "{backend}: the engine is not in a Web Worker: {info}");
        // One network module per backend: the visit fetched its own and not the other, and the
        // search's module.
        let fetched = browser.eval("return performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('aurora-hash-web-'));", json!([]));
        let module = if backend == "webgpu" { "aurora-hash-web-gpu" } else { "aurora-hash-web-cpu" };
        let fetched: Vec<&str> = fetched.as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        for wanted in [module, "aurora-hash-web-search"] {
            assert!(fetched.iter().any(|n| n.ends_with(&format!("{wanted}_bg.wasm"))), "{backend}: {fetched:?}");
        }
        assert!(fetched.iter().all(|n| n.contains(module) || n.contains("aurora-hash-web-search")), "{backend}: fetched another backend's module: {fetched:?}");

        // Parity: every example's code and class, as the native tool computes them.
        let (mut differ, mut total, mut same_class, mut same_soft) = (0u32, 0u32, 0usize, 0usize);
        for (rel, want) in &native {
            let got = browser.eval("return await window.aurora.classifyUrl(args[0]);", json!([rel]));
            let code = got["code"].as_str().unwrap();
            let d = bits_differing(code, want["code"].as_str().unwrap());
            differ += d;
            total += want["hash"].as_array().unwrap().len() as u32;
            let class = &classes[got["class"].as_u64().unwrap() as usize];
            same_class += usize::from(class == want["predicted"].as_str().unwrap());
            let hits = got["search"]["hits"].as_array().unwrap();
            if d == 0 {
                // Same code, so the same distances down the list; with the same output bytes
                // too, the same neighbours in the same order (equal codes ranked by outputs).
                let dist = |v: &Vec<Value>| v.iter().take(k).map(|h| h["distance"].as_u64().unwrap()).collect::<Vec<_>>();
                assert_eq!(dist(hits), dist(want["neighbours"].as_array().unwrap()), "{backend}: distances of {rel}'s neighbours");
                if got["soft"] == want["soft"] {
                    same_soft += 1;
                    let ids: Vec<&str> = hits.iter().take(k).map(|h| h["id"].as_str().unwrap()).collect();
                    let want_ids: Vec<&str> = want["neighbours"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
                    assert_eq!(ids, want_ids, "{backend}: neighbours of {rel}");
                }
            }
        }
        let agreement = 1.0 - differ as f64 / total as f64;
        println!("{backend}: {} images, bits agreeing {:.4} ({differ} of {total} differ), class agreeing {same_class}/{}, output bytes identical {same_soft}/{}", native.len(), agreement, native.len(), native.len());
        assert!(agreement >= 0.99, "{backend}: only {agreement:.4} of bits agree with the native tool");
        assert_eq!(same_class, native.len(), "{backend}: classes differ from the native tool");

        // The real UI: pick a file, see the class and the same top results, click one.
        let (rel, want) = native.iter().min_by_key(|(r, _)| r.as_str()).unwrap();
        browser.send_file("#file", &site.dir.join(rel));
        browser.wait("document.querySelectorAll('#hits li').length > 0 && document.getElementById('verdict').dataset.class", "results");
        let shown = browser.eval(
            "return { class: document.getElementById('verdict').dataset.class,
                      ids: [...document.querySelectorAll('#hits button')].map((b) => b.dataset.id),
                      backend: document.getElementById('backend').textContent,
                      timings: document.getElementById('timings').textContent };",
            json!([]),
        );
        assert_eq!(shown["class"], want["predicted"], "{shown}");
        let want_first = want["neighbours"][0]["id"].as_str().unwrap();
        assert!(shown["ids"].as_array().unwrap().iter().take(k).any(|id| id == want_first), "{shown} vs {want}");
        assert!(shown["timings"].as_str().unwrap().contains("inference"), "{shown}");
        let shot = screenshots().join(format!("page-{backend}.png"));
        browser.screenshot(&shot);
        println!("screenshot: {}", shot.display());

        // Choosing a result searches by it.
        let first = shown["ids"][0].as_str().unwrap();
        browser.click("#hits li:first-child button");
        browser.wait(&format!("document.getElementById('query-caption').textContent.startsWith({})", json!(first)), "search by a result");
        let ids = browser.eval("return [...document.querySelectorAll('#hits button')].map((b) => b.dataset.id);", json!([]));
        assert!(!ids.as_array().unwrap().iter().any(|id| id == first), "the clicked image is not its own result: {ids}");

        // Confidence: an in-domain frame gets calibrated bars and no warning; a CIFAR-10 photo
        // gets the out-of-domain message first. The page and `query --json` agree on both.
        for (path, want) in [(site.dir.join(rel), want.clone()), (site.cifar.clone(), site.cifar_native.clone())] {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            browser.send_file("#file", &path);
            browser.wait(&format!("document.getElementById('query-caption').textContent.startsWith({}) && document.getElementById('verdict').dataset.outOfDomain", json!(name)), "the verdict");
            let shown = browser.eval(
                "return { ood: !document.getElementById('ood').hidden,
                          flag: document.getElementById('verdict').dataset.outOfDomain,
                          verdict: document.getElementById('verdict').textContent,
                          bars: [...document.querySelectorAll('#probs li')].map((li) => li.getAttribute('aria-label')) };",
                json!([]),
            );
            let got = browser.eval("return await window.aurora.classifyUrl(args[0]);", json!([path.strip_prefix(&site.dir).unwrap().to_string_lossy()]));
            let native_out = want["out_of_domain"].as_bool().unwrap();
            assert_eq!(shown["ood"], json!(native_out), "{backend} {name}: page {shown}, native {}", want["verdict"]);
            assert_eq!(got["answer"]["out_of_domain"], json!(native_out), "{backend} {name}");
            assert_eq!(shown["bars"].as_array().unwrap().len(), 4, "{shown}");
            for (i, c) in classes.iter().enumerate() {
                let (page, native) = (got["probabilities"][i].as_f64().unwrap(), want["probabilities"][c].as_f64().unwrap());
                assert!((page - native).abs() < 0.01, "{backend} {name}: calibrated {c} {page} vs native {native}");
            }
            println!("{backend}: {name}: page \"{}\" (out of domain: {native_out}; score {} vs threshold {})", shown["verdict"], want["ood_score"], want["ood_threshold"]);
        }
        assert_eq!(site.cifar_native["out_of_domain"], json!(true), "the CIFAR-10 photo was taken for an all-sky frame: {}", site.cifar_native);
        assert_eq!(native[rel]["out_of_domain"], json!(false), "an in-domain example was called out of domain: {}", native[rel]);

        // The bad-input corpus through the page's engine (the wasm decoder and the model on
        // this backend): each damaged file is an error, never a trap (a wasm panic would leave
        // the module unusable), each unusual valid image an answer; the page works after it.
        let corpus_dir = site.dir.join("corpus");
        std::fs::create_dir_all(&corpus_dir).unwrap();
        let limits = corpus::either_way().len();
        let cases: Vec<corpus::Case> = corpus::corpus().into_iter().chain(corpus::either_way()).collect();
        let mut urls = Vec::new();
        for (i, c) in cases.iter().enumerate() {
            // Served under plain names: the cases' own names test the file system, not URLs.
            let ext = c.name.rsplit('.').next().unwrap_or("bin");
            std::fs::write(corpus_dir.join(format!("{i}.{ext}")), &c.bytes).unwrap();
            urls.push(format!("corpus/{i}.{ext}"));
        }
        let results = browser.eval(
            "const out = [];
             for (const url of args[0]) {
               try {
                 const r = await window.aurora.classifyUrl(url);
                 out.push({ ok: true, sum: r.probabilities.reduce((a, b) => a + b, 0) });
               } catch (e) {
                 out.push({ ok: false, trap: e instanceof WebAssembly.RuntimeError, error: String(e && e.message || e) });
               }
             }
             return out;",
            json!([urls]),
        );
        let mut refused = 0;
        for (i, (c, r)) in cases.iter().zip(results.as_array().unwrap()).enumerate() {
            assert!(r["trap"] != json!(true), "{backend}: {} trapped the engine: {r}", c.name);
            if i >= cases.len() - limits {
                // Answered, or refused with a message (`corpus::either_way`).
                assert!(r["ok"] == json!(true) || !r["error"].as_str().unwrap().is_empty(), "{backend}: {}: {r}", c.name);
            } else if c.valid {
                assert_eq!(r["ok"], json!(true), "{backend}: the engine refused a valid image {}: {r}", c.name);
                assert!((r["sum"].as_f64().unwrap() - 1.0).abs() < 1e-3, "{backend}: {}: {r}", c.name);
            } else {
                assert_eq!(r["ok"], json!(false), "{backend}: the engine accepted a damaged image {}", c.name);
                assert!(!r["error"].as_str().unwrap().is_empty(), "{backend}: {}: an empty message", c.name);
                refused += 1;
            }
        }
        let again = browser.eval("return await window.aurora.classifyUrl(args[0]);", json!([rel]));
        assert_eq!(again["code"], want["code"], "{backend}: the engine answers differently after the corpus");
        println!("{backend}: bad-input corpus through the engine: {} cases, {refused} damaged ones refused with a message, {} valid ones answered, {limits} either way, no trap", cases.len(), cases.len() - refused - limits);

        // A file that is not an image: a clear message naming it, and the page still works.
        let bad = site.dir.join("not-a-photo.png");
        std::fs::write(&bad, b"this is text, not a PNG").unwrap();
        browser.send_file("#file", &bad);
        browser.wait("!document.getElementById('error').hidden", "the error message");
        let err = browser.eval("return document.getElementById('error').textContent;", json!([]));
        assert!(err.as_str().unwrap().contains("not-a-photo.png"), "{err}");
    }
}

#[test]
#[ignore = "a benchmark: needs Chromium, chromedriver and the page; prints the browser speed table"]
fn browser_speed_table() {
    let site = build_site("bench");
    let browser = Browser::start();
    // The page's wasm modules (the network's, one per backend, of which a visitor downloads
    // one; the search's). Compressed sizes are
    // those of the copies `aurora-hash site` writes (README, "The browser client").
    for p in std::fs::read_dir(&site.dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "wasm")) {
        println!("{}: {:.2} MB", p.file_name().unwrap().to_string_lossy(), p.metadata().unwrap().len() as f64 / 1e6);
    }
    let weights = site.dir.join("bundle/model.bpk").metadata().unwrap().len();
    println!("demo bundle weights {:.2} MB", weights as f64 / 1e6);
    println!("| backend | engine in | module load | demo load | full 224 px first | full 224 px warm | longest main-thread task (tasks > 50 ms) | search 100k (in its module) | search 1M (in its module) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for backend in ["webgpu", "cpu"] {
        browser.goto(&format!("{}?backend={backend}", site.url));
        browser.eval("return await window.aurora.ready;", json!([]));
        let r = browser.eval("return await window.aurora.bench({});", json!([]));
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms ({}) | {:.2} ms ({:.2}) | {:.2} ms ({:.2}) |",
            r["backend"].as_str().unwrap_or(backend),
            if r["worker"] == json!(true) { "a Web Worker" } else { "the page" },
            f("module_ms"),
            f("demo_load_ms"),
            f("full_first_ms"),
            f("full_warm_ms"),
            f("longest_task_ms"),
            r["long_tasks"],
            f("search_100000_ms"),
            f("search_100000_engine_ms"),
            f("search_1000000_ms"),
            f("search_1000000_engine_ms"),
        );
    }
}

/// A tiny network trained for a few seconds into `root/run`: enough for codes to differ.
fn tiny_run(root: &Path, data: &str, bits: &str, epochs: &str) -> PathBuf {
    let run = root.join("run");
    run_ok(tool().args(["train", "--data", data, "--run", run.to_str().unwrap(), "--size", "64", "--width", "0.125", "--fc", "32"]).args(["--bits", bits, "--epochs", epochs, "--batch", "8", "--device", "cpu"]));
    run
}

/// The archive for the site test: the YRS frames when `../shared/data/yrs/labeled` is there
/// (or `AURORA_YRS` names a folder), else synthetic frames renamed the YRS way (a time in the
/// name) so the time filter has something to filter.
fn archive_images(root: &Path) -> PathBuf {
    let yrs = std::env::var("AURORA_YRS").map(PathBuf::from).unwrap_or_else(|_| workspace().join("../shared/data/yrs/labeled"));
    if yrs.is_dir() {
        return yrs;
    }
    let dir = root.join("archive");
    run_ok(tool().args(["generate", "--out", dir.to_str().unwrap(), "--per-class", "15", "--size", "128", "--seed", "3"]));
    for class in ["arc", "drapery", "radial", "hot_spot"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(class)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for (i, f) in files.into_iter().enumerate() {
            // Two days, one frame a minute.
            let (day, minute) = (20 + i % 2, i);
            let name = format!("N201312{day:02}G{:02}{:02}00.png", 3 + minute / 60, minute % 60);
            std::fs::rename(&f, dir.join(class).join(name)).unwrap();
        }
    }
    dir
}

#[test]
#[ignore = "needs Chromium, chromedriver and the trunk-built page; scripts/test.sh runs it"]
fn published_site_browses_filters_searches_works_offline_and_as_one_file() {
    let (root, dist) = (fresh_dir("site"), page_dist());
    let run = tiny_run(&root, "synthetic:8", "24", "2");
    let images = archive_images(&root);
    let out = root.join("site");
    let single = root.join("classroom.html");
    let site_cmd = |extra: &[&str]| {
        let mut c = tool();
        c.args(["site", images.to_str().unwrap(), "--run", run.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "cpu", "--web"]).arg(&dist).args(extra);
        run_ok(&mut c)
    };
    let first = site_cmd(&["--single-file", single.to_str().unwrap()]);
    println!("{first}");
    // A rebuild with nothing new writes nothing.
    let again = site_cmd(&[]);
    assert!(again.contains(" 0 files written"), "{again}");
    // Too large for one file: a clear refusal, and nothing written.
    let refused = tool().args(["site", images.to_str().unwrap(), "--run", run.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "cpu", "--max-single-mb", "1", "--single-file", root.join("big.html").to_str().unwrap(), "--web"]).arg(&dist).output().unwrap();
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && text.contains("over the 1 MB limit") && !root.join("big.html").exists(), "{text}");

    let names: Vec<String> = std::fs::read_dir(out.join("bundle")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let index: Vec<&String> = names.iter().filter(|n| n.starts_with("archive-") && n.ends_with(".idx")).collect();
    assert_eq!(index.len(), 1, "one content-hashed index: {names:?}");
    // Large files have brotli and gzip copies beside them, which decompress to the file.
    for ext in ["br", "gz"] {
        assert!(names.contains(&format!("{}.{ext}", index[0])), "{names:?}");
    }
    // One network module per backend, each with copies that decompress to it; what a first
    // visit transfers on each backend (the brotli copy where there is one), the search's
    // module included.
    let size = |p: &Path| p.metadata().unwrap().len();
    let sent = |p: &Path| {
        let br = PathBuf::from(format!("{}.br", p.display()));
        if br.is_file() { size(&br) } else { size(p) }
    };
    let top: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    let is_copy = |p: &Path| p.extension().is_some_and(|e| e == "br" || e == "gz");
    for module in ["gpu", "cpu"] {
        let prefix = format!("aurora-hash-web-{module}");
        let wasm = out.join(format!("{prefix}_bg.wasm"));
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(wasm.with_extension("wasm.gz")).unwrap()).read_to_end(&mut unpacked).unwrap();
        assert!(unpacked == std::fs::read(&wasm).unwrap(), "the gzip copy of {} is the wasm", wasm.display());
        let other = if module == "gpu" { "aurora-hash-web-cpu" } else { "aurora-hash-web-gpu" };
        let page: u64 = top
            .iter()
            .filter(|p| !is_copy(p))
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                // The site's list of its own files (a dotfile) is never fetched by the page.
                !n.starts_with(other) && !n.starts_with("bench") && !n.starts_with('.')
            })
            .map(|p| sent(p))
            .sum();
        let bundle: u64 = std::fs::read_dir(out.join("bundle")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file() && !is_copy(p)).map(|p| sent(&p)).sum();
        println!(
            "{module} module: wasm {:.2} MB, brotli {:.2} MB, gzip {:.2} MB; first visit: page and module {:.2} MB, bundle {:.2} MB (compressed where worth it)",
            size(&wasm) as f64 / 1e6,
            sent(&wasm) as f64 / 1e6,
            size(&wasm.with_extension("wasm.gz")) as f64 / 1e6,
            page as f64 / 1e6,
            bundle as f64 / 1e6
        );
    }
    let total = {
        let m: Value = serde_json::from_slice(&std::fs::read(out.join("bundle/manifest.json")).unwrap()).unwrap();
        assert!(m["files"].as_array().unwrap().iter().all(|f| f["path"].as_str().is_some_and(|p| p.contains('-'))), "{m}");
        std::fs::read_dir(&images).unwrap().map(|d| std::fs::read_dir(d.unwrap().path()).map(|f| f.count()).unwrap_or(0)).sum::<usize>()
    };

    let (url, server) = serve(&out);
    let browser = Browser::start();
    browser.goto(&format!("{url}?backend=cpu"));
    let info = browser.eval("return await window.aurora.ready;", json!([]));
    assert_eq!(info["archive"], json!(total), "{info}");
    // The wasm modules arrived as their brotli copies (Chromium accepts br from localhost) and
    // ran: the browser decodes the larger window `site` compresses wasm with.
    let wasm = browser.eval("return performance.getEntriesByType('resource').filter((e) => e.name.endsWith('_bg.wasm')).map((e) => [e.name, e.encodedBodySize, e.decodedBodySize]);", json!([]));
    let wasm = wasm.as_array().unwrap();
    assert_eq!(wasm.len(), 2, "the CPU module and the search's: {wasm:?}");
    for w in wasm {
        let name = w[0].as_str().unwrap();
        let file = out.join(name.rsplit('/').next().unwrap());
        assert_eq!(w[2].as_u64(), Some(size(&file)), "{w}");
        assert_eq!(w[1].as_u64(), Some(sent(&file)), "{w}: not the brotli copy");
    }

    // Browse: the first page, then a class filter, then a time range.
    browser.wait("document.querySelectorAll('#browse-grid li').length > 0", "the archive grid");
    let count = browser.eval("return document.querySelectorAll('#browse-grid li').length;", json!([]));
    assert_eq!(count, json!(total.min(48)));
    let filtered = browser.eval(
        "const s = document.getElementById('browse-class'); s.value = '1'; s.dispatchEvent(new Event('change'));
         const b = document.getElementById('browse-by'); b.value = 'label'; b.dispatchEvent(new Event('change'));
         await window.aurora.browsed();
         return [...document.querySelectorAll('#browse-grid button')].map((x) => x.dataset.label);",
        json!([]),
    );
    let labels = filtered.as_array().unwrap();
    assert!(!labels.is_empty() && labels.iter().all(|l| l == "drapery"), "{filtered}");
    let timed = browser.eval(
        "const s = document.getElementById('browse-class'); s.value = '-1'; s.dispatchEvent(new Event('change'));
         const f = document.getElementById('browse-from'); f.value = f.min; f.dispatchEvent(new Event('change'));
         const t = document.getElementById('browse-to'); t.value = f.min; t.dispatchEvent(new Event('change'));
         await window.aurora.browsed();
         return { day: f.min, times: [...document.querySelectorAll('#browse-grid button')].map((x) => Number(x.dataset.timestamp)),
                  count: document.getElementById('browse-count').textContent };",
        json!([]),
    );
    let day_start = browser.eval("return Date.parse(args[0] + 'T00:00:00Z') / 1000;", json!([timed["day"]])).as_f64().unwrap();
    let times = timed["times"].as_array().unwrap();
    assert!(!times.is_empty(), "{timed}");
    assert!(times.iter().all(|t| (day_start..day_start + 86400.0).contains(&t.as_f64().unwrap())), "{timed}");

    // Query by example (a browsed image) and by upload.
    let first_id = browser.eval("return document.querySelector('#browse-grid button').dataset.id;", json!([]));
    browser.click("#browse-grid li:first-child button");
    browser.wait(&format!("document.getElementById('query-caption').textContent.startsWith({first_id}) && document.querySelectorAll('#hits li').length > 0"), "search by a browsed image");
    let upload = images.join("arc").read_dir().unwrap().next().unwrap().unwrap().path();
    browser.send_file("#file", &upload);
    browser.wait("document.getElementById('timings').textContent.includes('inference')", "classifying an upload");
    browser.screenshot(&screenshots().join("site.png"));

    // Offline: the service worker has cached the site; stop the server, reload, search again.
    browser.eval("await navigator.serviceWorker.ready; for (let i = 0; i < 600 && !navigator.serviceWorker.controller; i++) await new Promise((r) => setTimeout(r, 100)); return true;", json!([]));
    // The page's wasm modules are kept too (fetched again once the service worker controls it).
    browser.eval(
        "for (let i = 0; i < 600; i++) {
           for (const name of await caches.keys()) {
             const keys = await (await caches.open(name)).keys();
             if (['aurora-hash-web-cpu_bg.wasm', 'aurora-hash-web-search_bg.wasm'].every((m) => keys.some((r) => r.url.endsWith(m)))) return true;
           }
           await new Promise((r) => setTimeout(r, 100));
         }
         throw new Error('the wasm module never reached the offline cache');",
        json!([]),
    );
    drop(server);
    browser.goto(&format!("{url}?backend=cpu"));
    let info = browser.eval("return await window.aurora.ready;", json!([]));
    assert_eq!(info["archive"], json!(total), "offline: {info}");
    browser.send_file("#file", &upload);
    browser.wait("document.getElementById('timings').textContent.includes('inference') && document.querySelectorAll('#hits li').length > 0", "searching offline");

    // The classroom file from file://, no server at all.
    browser.goto(&format!("file://{}?backend=cpu", single.display()));
    let info = browser.eval("return await window.aurora.ready;", json!([]));
    assert_eq!(info["archive"], json!(total), "single file: {info}");
    browser.send_file("#file", &upload);
    browser.wait("document.getElementById('timings').textContent.includes('inference') && document.querySelectorAll('#hits li').length > 0", "searching in the single file");
    let thumb = browser.eval("return document.querySelector('#hits img').src.startsWith('data:image/jpeg;base64,');", json!([]));
    assert_eq!(thumb, json!(true), "thumbnails come from inside the file");
    let page = browser.eval("await window.aurora.browsed(); return document.querySelectorAll('#browse-grid li').length;", json!([]));
    assert_eq!(page, json!(total.min(48)), "browsing in the single file");
    let first_id = browser.eval("return document.querySelector('#browse-grid button').dataset.id;", json!([]));
    browser.click("#browse-grid li:first-child button");
    browser.wait(&format!("document.getElementById('query-caption').textContent.startsWith({first_id})"), "query by example in the single file");
    browser.screenshot(&screenshots().join("single-file.png"));

    // Without the search's module (a host that lost it, a damaged copy) the page still
    // classifies photos, and says why no similar images are shown. A new port: another
    // origin, so the service worker above does not answer for it.
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("aurora-hash-web-search_bg.wasm") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let (url, _server) = serve(&out);
    browser.goto(&format!("{url}?backend=cpu"));
    let info = browser.eval("return await window.aurora.ready;", json!([]));
    assert_eq!(info["archive"], json!(0), "{info}");
    let error = browser.eval("return document.getElementById('error').textContent;", json!([]));
    assert!(error.as_str().unwrap().contains("search could not load"), "{error}");
    browser.send_file("#file", &upload);
    browser.wait("document.getElementById('timings').textContent.includes('inference')", "classifying without the search's module");
    let timings = browser.eval("return document.getElementById('timings').textContent;", json!([]));
    assert!(timings.as_str().unwrap().contains("the archive's search could not load"), "{timings}");
}

#[test]
#[ignore = "needs Chromium, chromedriver and the trunk-built page; scripts/test.sh runs it"]
fn site_of_a_million_codes_loads_in_shards_and_searches_them_all() {
    let (root, dist) = (fresh_dir("million"), page_dist());
    let (run, bundle, index, out) = (root.join("run"), root.join("bundle"), root.join("million.idx"), root.join("site"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    tiny_run(&root, "synthetic:4", "48", "1");
    run_ok(tool().args(["export", "--run", &s(&run), "--out", &s(&bundle)]));
    run_ok(tool().args(["index", "random", "--bundle", &s(&bundle), "--count", "1000000", "--out", &s(&index)]));
    println!("{}", run_ok(tool().args(["site", "--index", &s(&index), "--run", &s(&run), "--out", &s(&out), "--device", "cpu", "--web"]).arg(&dist)));
    let shards = std::fs::read_dir(out.join("bundle")).unwrap().filter(|e| {
            let name = e.as_ref().unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with("shard-") && name.ends_with(".idx")
        })
        .count();
    assert_eq!(shards, 10, "1,000,000 codes in shards of 100,000");

    let (url, _server) = serve(&out);
    let browser = Browser::start();
    browser.goto(&format!("{url}?backend=cpu"));
    // First results: as soon as the first shard is in, a search shows images with their names.
    let first = browser.eval(
        "await window.aurora.ready;
         const r = await window.aurora.searchCode('0000123456789abc');
         return { at: performance.now(), shard_at: window.aurora.timings().first_shard, searched: r.searched, ids: r.hits.map((h) => h.id) };",
        json!([]),
    );
    assert!(first["ids"].as_array().unwrap().iter().all(|id| id.as_str().unwrap().starts_with("random/")), "{first}");
    let all = browser.eval(
        "await window.aurora.complete();
         const times = [];
         let r;
         for (let i = 0; i < 10; i++) { r = await window.aurora.searchCode('0000123456789abc'); times.push(r.search_ms); }
         times.sort((a, b) => a - b);
         return { at: window.aurora.timings().all_shards, searched: r.searched, median_ms: times[5], ids: r.hits.map((h) => h.id) };",
        json!([]),
    );
    assert_eq!(all["searched"], json!(1_000_000), "{all}");
    assert!(all["ids"].as_array().unwrap().iter().all(|id| id.as_str().unwrap().starts_with("random/")), "{all}");
    println!(
        "1,000,000 codes in 10 shards: first shard searchable at {:.0} ms, first results on screen at {:.0} ms (searched {}), all loaded at {:.0} ms, top-12 search over all {:.1} ms (median of 10)",
        first["shard_at"].as_f64().unwrap(),
        first["at"].as_f64().unwrap(),
        first["searched"],
        all["at"].as_f64().unwrap(),
        all["median_ms"].as_f64().unwrap()
    );
}
