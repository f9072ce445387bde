//! The bad-input corpus: damaged and hostile images, odd file-system entries, and bundles with
//! one field wrong at a time, all made here by code (nothing binary is committed), run through
//! `query`, `index build`, `index merge`, `index score`, `train --data` and `site`. Every case must end in a clean error
//! that names the file, or in a sensible result: never a panic, never a hang. At the end the
//! test prints the table of cases per command and outcome.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;
use common::*;
#[path = "common/corpus.rs"]
mod corpus;
use corpus::{corpus, encode, sky};

/// Long enough for a debug-profile model load on a busy 2-core machine; a hang is forever.
const LIMIT: Duration = Duration::from_secs(120);

/// Outcomes per command, for the closing table.
#[derive(Default)]
struct Tally(BTreeMap<(String, String), usize>);

impl Tally {
    fn add(&mut self, command: &str, outcome: &str) {
        *self.0.entry((command.into(), outcome.into())).or_default() += 1;
    }

    fn print(&self) {
        println!("{:<24} {:<36} {:>6}", "command", "outcome", "cases");
        for ((c, o), n) in &self.0 {
            println!("{c:<24} {o:<36} {n:>6}");
        }
    }
}

/// The one rule every run obeys: no panic, and on failure a message that names `name`.
fn check(o: &std::process::Output, name: &str, what: &str) -> bool {
    let t = text(o);
    assert!(!t.contains("panicked") && !t.contains("RUST_BACKTRACE"), "{what}: panicked: {t}");
    // A file name holding terminal escape codes is shown escaped, never sent to the terminal.
    assert!(!t.contains('\u{1b}'), "{what}: a raw escape code in the output: {t:?}");
    if !o.status.success() {
        // Control characters in a name are shown stripped; match on the rest of it.
        let shown: String = name.chars().filter(|c| !c.is_control()).collect();
        let stem = &shown[..shown.len().min(40)];
        assert!(t.contains(stem), "{what}: the error does not name `{name}`: {t}");
    }
    o.status.success()
}

#[test]
fn bad_input_corpus_never_panics_hangs_or_loses_the_good_files() {
    let dir = tmp("corpus");
    let run = dir.join("run");
    let o = train(&run, "synthetic:4", &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let bundle = dir.join("bundle");
    assert!(tool(&["export", "--run", run.to_str().unwrap(), "--out", bundle.to_str().unwrap()]).status.success());
    let b = bundle.to_str().unwrap();

    // The archive: good frames in class folders, the corpus beside them, and file-system
    // oddities (a folder named like an image, a FIFO, a link to /dev/zero, a link loop, a
    // name that is not UTF-8).
    let archive = dir.join("archive");
    let bad = archive.join("arc");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::create_dir_all(archive.join("radial")).unwrap();
    let mut good = 0;
    for i in 0..4 {
        aurora_hash::data::synthetic::frame(9, i * 4, 64).save(archive.join("arc").join(format!("good-{i}.png"))).unwrap();
        aurora_hash::data::synthetic::frame(9, i * 4 + 2, 64).save(archive.join("radial").join(format!("good-{i}.png"))).unwrap();
        good += 2;
    }
    let cases = corpus();
    for c in &cases {
        std::fs::write(bad.join(&c.name), &c.bytes).unwrap();
    }
    let valid = cases.iter().filter(|c| c.valid).count();
    let mut odd: Vec<(PathBuf, &str)> = Vec::new();
    std::fs::create_dir_all(bad.join("folder.png")).unwrap();
    odd.push((bad.join("folder.png"), "folder"));
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let fifo = bad.join("pipe.png");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        odd.push((fifo, "FIFO"));
        std::os::unix::fs::symlink("/dev/zero", bad.join("zero.png")).unwrap();
        odd.push((bad.join("zero.png"), "device"));
        std::os::unix::fs::symlink("..", bad.join("loop")).unwrap();
        let raw = std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9.png");
        std::fs::write(bad.join(raw), encode(sky(30, 30), image::ImageFormat::Png)).unwrap();
    }
    let mut tally = Tally::default();
    // `query` searches the bundle's archive index: one of the good frames.
    let o = tool(&["index", "build", archive.join("radial").to_str().unwrap(), "--bundle", b, "--out", bundle.join("archive.idx").to_str().unwrap(), "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));

    // query: every case on its own, with the peak memory it took.
    let mut peaks: Vec<(u64, String)> = Vec::new();
    for c in &cases {
        let path = bad.join(&c.name);
        let (o, peak) = tool_measured(&["query", path.to_str().unwrap(), "--bundle", b, "--device", "cpu", "--json"], LIMIT);
        peaks.push((peak, c.name.clone()));
        let ok = check(&o, &c.name, &format!("query {}", c.name));
        tally.add("query (image)", if ok { "answered" } else { "refused, file named" });
        if ok {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("query {}: not JSON: {e}", c.name));
            let probs: Vec<f64> = v["probabilities"].as_object().unwrap().values().map(|p| p.as_f64().unwrap()).collect();
            assert!(probs.iter().all(|p| p.is_finite()) && (probs.iter().sum::<f64>() - 1.0).abs() < 1e-3, "{}: {probs:?}", c.name);
        }
        if c.valid {
            assert!(ok, "query refused a valid image {}: {}", c.name, text(&o));
        } else {
            assert!(!ok, "query accepted a damaged image {}", c.name);
        }
    }
    for c in corpus::either_way() {
        // Outside the archive: `index build` below counts what it finds there.
        let path = dir.join("limits").join(&c.name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &c.bytes).unwrap();
        let (o, peak) = tool_measured(&["query", path.to_str().unwrap(), "--bundle", b, "--device", "cpu"], LIMIT);
        peaks.push((peak, c.name.clone()));
        let ok = check(&o, &c.name, &format!("query {}", c.name));
        println!("either way, {}: {}", c.name, if ok { "answered".to_string() } else { text(&o).trim().to_string() });
        tally.add("query (either way)", if ok { "answered" } else { "refused, file named" });
    }
    for (path, kind) in &odd {
        let name = path.file_name().unwrap().to_str().unwrap();
        let (o, peak) = tool_measured(&["query", path.to_str().unwrap(), "--bundle", b, "--device", "cpu"], LIMIT);
        peaks.push((peak, format!("{name} ({kind})")));
        assert!(!check(&o, name, &format!("query {name}")), "query read a {kind}");
        assert!(text(&o).contains(kind), "query {name}: {}", text(&o));
        tally.add("query (file system)", "refused, file named");
    }

    // No case may make the tool hold more than the decode limit plus the model and the
    // program: a bomb refused only after allocating would show here.
    peaks.sort();
    let baseline = peaks[peaks.len() / 2].0;
    let bound = aurora_hash::data::decode::MAX_DECODED_BYTES + 256 * 1024 * 1024;
    let mib = |b: u64| b as f64 / 1048576.0;
    println!("peak memory of `query` per case: median {:.0} MiB; largest:", mib(baseline));
    for (peak, name) in peaks.iter().rev().take(5) {
        println!("  {:7.0} MiB  {name}", mib(*peak));
    }
    for (peak, name) in &peaks {
        assert!(*peak <= bound, "query {name} took {:.0} MiB, more than the {:.0} MiB bound", mib(*peak), mib(bound));
        // Nothing damaged or hostile may cost much more than a plain query.
        assert!(*peak <= baseline + 128 * 1024 * 1024, "query {name} took {:.0} MiB against a median of {:.0} MiB", mib(*peak), mib(baseline));
    }

    // index build: the good images and the valid corpus are indexed, every bad entry is named.
    let idx = dir.join("archive.idx");
    let (o, peak) = tool_measured(&["index", "build", archive.to_str().unwrap(), "--bundle", b, "--out", idx.to_str().unwrap(), "--device", "cpu"], LIMIT);
    println!("peak memory of `index build` over the whole corpus: {:.0} MiB", mib(peak));
    assert!(peak <= bound, "index build took {:.0} MiB", mib(peak));
    assert!(o.status.success(), "index build: {}", text(&o));
    let out = text(&o);
    let index = aurora_hash::index::CodeIndex::from_bytes(&std::fs::read(&idx).unwrap()).unwrap();
    assert_eq!(index.len(), good + valid, "{out}");
    for c in cases.iter().filter(|c| !c.valid) {
        assert!(out.contains(&format!("skipped {}", bad.join(&c.name).display())), "index build did not name {}: {out}", c.name);
        tally.add("index build", "bad image skipped, named");
    }
    for c in cases.iter().filter(|c| c.valid) {
        let id = format!("arc/{}", c.name);
        assert!(index.contains(&id), "{id} missing from the index: {out}");
        tally.add("index build", "indexed");
    }
    for (path, _) in odd.iter().filter(|(_, k)| *k != "folder") {
        assert!(out.contains(&format!("skipped {}", path.display())), "index build did not name {}: {out}", path.display());
        tally.add("index build (file system)", "skipped, named");
    }
    assert!(out.contains("loop"), "the link loop is reported: {out}");
    tally.add("index build (file system)", "loop reported, not followed");
    assert!(out.contains("not valid UTF-8"), "the non-UTF-8 name is reported: {out}");
    tally.add("index build (file system)", "non-UTF-8 name skipped, named");
    // The bad images, the FIFO and the device link (not the folder), the loop, the name.
    let skipped = cases.iter().filter(|c| !c.valid).count() + odd.len() - 1 + 1 + 1;
    assert!(out.contains(&format!("{skipped} files skipped")), "expected {skipped} skipped: {out}");
    // Onto the existing index: the good images are not encoded again, the bad ones are tried
    // and named again, and the index keeps what it had.
    let o = tool_within(&["index", "build", archive.to_str().unwrap(), "--bundle", b, "--out", idx.to_str().unwrap(), "--device", "cpu"], LIMIT);
    assert!(o.status.success(), "{}", text(&o));
    let expected = format!("{} already indexed", index.len());
    assert!(text(&o).contains(&expected) && text(&o).contains(&format!("{skipped} files skipped")), "{}", text(&o));
    let again = aurora_hash::index::CodeIndex::from_bytes(&std::fs::read(&idx).unwrap()).unwrap();
    assert_eq!(again, index);
    tally.add("index build (existing)", "good ones kept, bad ones named again");
    // --strict stops at the first bad file and writes nothing.
    let strict = dir.join("strict.idx");
    let o = tool_within(&["index", "build", archive.to_str().unwrap(), "--bundle", b, "--out", strict.to_str().unwrap(), "--device", "cpu", "--strict"], LIMIT);
    assert!(!o.status.success() && text(&o).contains("--strict"), "{}", text(&o));
    assert!(!strict.exists(), "a stopped build writes nothing");
    tally.add("index build --strict", "stopped at the first, nothing written");

    // site: the same folder published as a site. The good images and the valid corpus are
    // published (their originals copied into images/), every bad entry is named, and the site
    // is complete.
    let web = dir.join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>page</title>").unwrap();
    let site = dir.join("site");
    let o = tool_within(
        &["site", archive.to_str().unwrap(), "--run", run.to_str().unwrap(), "--out", site.to_str().unwrap(), "--web", web.to_str().unwrap(), "--device", "cpu"],
        LIMIT * 2,
    );
    assert!(check(&o, "site", "site"), "site: {}", text(&o));
    let out = text(&o);
    for c in cases.iter().filter(|c| !c.valid) {
        assert!(out.contains(&format!("skipped {}", bad.join(&c.name).display())), "site did not name {}: {out}", c.name);
        assert!(!site.join("images/arc").join(&c.name).exists(), "site published the bad image {}", c.name);
        tally.add("site", "bad image skipped, named");
    }
    for c in cases.iter().filter(|c| c.valid) {
        assert_eq!(std::fs::read(site.join("images/arc").join(&c.name)).unwrap(), c.bytes, "{} not published as it was", c.name);
        tally.add("site", "published");
    }
    for (path, _) in odd.iter().filter(|(_, k)| *k != "folder") {
        assert!(out.contains(&format!("skipped {}", path.display())), "site did not name {}: {out}", path.display());
        tally.add("site (file system)", "skipped, named");
    }
    assert!(out.contains(&format!("site {}: {} images", site.display(), good + valid)), "{out}");
    let published: serde_json::Value = serde_json::from_slice(&std::fs::read(site.join("bundle/manifest.json")).unwrap()).unwrap();
    for f in published["files"].as_array().unwrap() {
        assert!(site.join("bundle").join(f["path"].as_str().unwrap()).is_file(), "{f}");
    }

    // train --data: the same folder as a class-per-folder dataset.
    let o = tool_within(
        &["train", "--data", archive.to_str().unwrap(), "--run", dir.join("run2").to_str().unwrap(), "--epochs", "1", "--size", "64", "--width", "0.125", "--fc", "32", "--bits", "12", "--batch", "8", "--device", "cpu"],
        LIMIT * 2,
    );
    assert!(o.status.success(), "train: {}", text(&o));
    let out = text(&o);
    let named = cases.iter().filter(|c| !c.valid).filter(|c| out.contains(&c.name)).count();
    // Each bad image is named when its side of the split (training, validation) is loaded;
    // test images are read by `eval`.
    assert!(named > 0 && !out.contains("panicked"), "{out}");
    tally.add("train --data", "trained; bad images named and left out");

    // Index files: damaged in every way the reader checks, through query and merge.
    let bytes = std::fs::read(&idx).unwrap();
    let photo = archive.join("arc/good-0.png");
    for (k, cut) in [0usize, 10, bytes.len() / 2, bytes.len() - 1].into_iter().enumerate() {
        let p = dir.join(format!("cut-{k}.idx"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let o = tool_within(&["query", photo.to_str().unwrap(), "--bundle", b, "--index", p.to_str().unwrap(), "--device", "cpu"], LIMIT);
        assert!(!check(&o, &name, "query --index"));
        let o = tool_within(&["index", "merge", idx.to_str().unwrap(), p.to_str().unwrap(), "--out", dir.join("m.idx").to_str().unwrap()], LIMIT);
        assert!(!check(&o, &name, "index merge"));
        assert!(!dir.join("m.idx").exists(), "a refused merge writes nothing");
        let o = tool_within(&["index", "score", p.to_str().unwrap(), "--run", run.to_str().unwrap()], LIMIT);
        assert!(!check(&o, &name, "index score"));
        let o = tool_within(&["index", "build", archive.join("radial").to_str().unwrap(), "--bundle", b, "--out", p.to_str().unwrap(), "--device", "cpu"], LIMIT);
        assert!(!check(&o, &name, "index build onto it"));
        assert_eq!(std::fs::read(&p).unwrap(), bytes[..cut], "a damaged index is left as it was");
        tally.add("query / merge / score / build onto a damaged index", "refused, named, left as it was");
    }
    // An index made for other classes is refused, not shown with wrong names.
    let other = aurora_hash::index::CodeIndex::random(20, 12, vec!["cat".into(), "dog".into(), "arc".into(), "radial".into(), "x".into()], 1);
    let p = dir.join("other-classes.idx");
    std::fs::write(&p, other.to_bytes()).unwrap();
    let o = tool_within(&["query", photo.to_str().unwrap(), "--bundle", b, "--index", p.to_str().unwrap(), "--device", "cpu"], LIMIT);
    assert!(!check(&o, "other-classes.idx", "query, other classes"));
    assert!(text(&o).contains("classes"), "{}", text(&o));
    tally.add("query --index", "index of other classes refused");

    // Bundles with one field of bundle.json wrong at a time (checksums fixed up, as a hand
    // edit would be): refused naming bundle.json, or a sensible answer when the field is free
    // text. And manifest.json fields wrong in turn.
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let mut leaves = Vec::new();
    collect_leaves(&config, String::new(), &mut leaves);
    assert!(leaves.len() > 20, "{leaves:?}");
    let mut answered = Vec::new();
    let wrong_values = [serde_json::json!(-1), serde_json::json!(0), serde_json::json!(1e12), serde_json::json!("x"), serde_json::json!(null)];
    for pointer in &leaves {
        for value in &wrong_values {
            let mut edited = config.clone();
            *edited.pointer_mut(pointer).unwrap() = value.clone();
            if edited == config {
                continue;
            }
            let outcome = with_bundle_json(&bundle, &manifest, &edited, || {
                tool_within(&["query", photo.to_str().unwrap(), "--bundle", b, "--device", "cpu"], LIMIT)
            });
            let ok = check(&outcome, "bundle.json", &format!("bundle.json {pointer} = {value}"));
            tally.add("query (bundle.json field)", if ok { "answered" } else { "refused, bundle.json named" });
            if ok {
                answered.push(format!("{pointer} = {value}"));
            }
        }
    }
    // Edits to values the model would accept, which disagree with the weights: refused, naming
    // bundle.json and what disagrees with it, never "damaged".
    let width = config["model"]["width"].as_f64().unwrap();
    let mut fewer = config.clone();
    fewer["classes"].as_array_mut().unwrap().pop();
    fewer["model"]["num_classes"] = serde_json::json!(fewer["classes"].as_array().unwrap().len());
    let edits = [
        ("/model/width", serde_json::json!(width * 2.0)),
        ("/model/arch", serde_json::json!("alexnet")),
        ("/model/spp_pmt", serde_json::json!(!config["model"]["spp_pmt"].as_bool().unwrap())),
        ("/model/fc_width", serde_json::json!(config["model"]["fc_width"].as_u64().unwrap() * 2)),
        ("/model/bits", serde_json::json!(config["model"]["bits"].as_u64().unwrap() + 4)),
    ];
    let mut valid_edits: Vec<(String, serde_json::Value)> = edits
        .iter()
        .map(|(pointer, value)| {
            let mut edited = config.clone();
            *edited.pointer_mut(pointer).unwrap() = value.clone();
            (format!("{pointer} = {value}"), edited)
        })
        .collect();
    valid_edits.push(("one class fewer".into(), fewer));
    for (what, edited) in &valid_edits {
        let outcome = with_bundle_json(&bundle, &manifest, edited, || tool_within(&["query", photo.to_str().unwrap(), "--bundle", b, "--device", "cpu"], LIMIT));
        assert!(!check(&outcome, "bundle.json", &format!("bundle.json {what}")), "bundle.json {what} was accepted");
        let t = text(&outcome);
        // The weights (or the out-of-domain statistics and class names, checked first) are
        // named as what disagrees.
        assert!(!t.contains("damaged") && ["model.bpk", "confidence.ood", "class"].iter().any(|w| t.contains(w)), "bundle.json {what}: {t}");
        tally.add("query (bundle.json: another valid model)", "refused, bundle.json and what disagrees named");
    }
    for pointer in ["/format", "/files/0/name", "/files/0/size", "/files/0/sha256", "/files/1/sha256", "/files"] {
        for value in &wrong_values {
            let mut m = manifest.clone();
            *m.pointer_mut(pointer).unwrap() = value.clone();
            std::fs::write(bundle.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
            let o = tool_within(&["query", photo.to_str().unwrap(), "--bundle", b, "--device", "cpu"], LIMIT);
            let t = text(&o);
            assert!(!t.contains("panicked"), "manifest {pointer} = {value}: {t}");
            if !o.status.success() {
                assert!(t.contains("manifest.json") || t.contains("bundle.json") || t.contains("model.bpk"), "manifest {pointer} = {value}: {t}");
            }
            tally.add("query (manifest.json field)", if o.status.success() { "answered" } else { "refused, file named" });
        }
    }
    std::fs::write(bundle.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    // A bundle folder with a file missing, and weights of another width.
    for missing in ["model.bpk", "bundle.json", "manifest.json"] {
        let p = bundle.join(missing);
        let keep = std::fs::read(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        let o = tool_within(&["query", photo.to_str().unwrap(), "--bundle", b, "--device", "cpu"], LIMIT);
        assert!(!check(&o, missing, "missing bundle file"));
        std::fs::write(&p, keep).unwrap();
        tally.add("query (bundle file missing)", "refused, file named");
    }
    tally.print();
    println!("bundle.json edits that still load (free text, or a value the model accepts): {}", answered.join("; "));
    let total: usize = tally.0.values().sum();
    println!("{total} cases, 0 panics, 0 hangs; the good images were indexed every time");
    let _ = std::fs::remove_dir_all(dir);
}

/// JSON pointers of every leaf (number, string, bool, null) of `v`.
fn collect_leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| collect_leaves(v, format!("{at}/{k}"), out)),
        // Long arrays (OOD statistics): their first element stands for the rest.
        serde_json::Value::Array(a) => a.iter().take(1).enumerate().for_each(|(i, v)| collect_leaves(v, format!("{at}/{i}"), out)),
        _ => out.push(at),
    }
}

/// Runs `f` with `edited` as the bundle's bundle.json (the manifest's size and checksum made
/// to match), then puts the original back.
fn with_bundle_json<T>(bundle: &Path, manifest: &serde_json::Value, edited: &serde_json::Value, f: impl FnOnce() -> T) -> T {
    let original = std::fs::read(bundle.join("bundle.json")).unwrap();
    write_bundle_json(bundle, manifest, edited);
    let out = f();
    std::fs::write(bundle.join("bundle.json"), original).unwrap();
    std::fs::write(bundle.join("manifest.json"), serde_json::to_vec_pretty(manifest).unwrap()).unwrap();
    out
}
