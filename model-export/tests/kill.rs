//! Killed at any moment: `export`, `index build` and `site` are stopped with SIGKILL at
//! several points of their work. What existed before must be intact (byte for byte, or a
//! complete newer version), nothing half-written may be taken for a file, and a rerun must
//! complete; a killed `train` resumes to the end (`train --resume`), or starts again when it
//! was killed before it wrote its run.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// Every regular file under `dir` with its bytes (hidden temporary files included).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if dir.exists() {
        for e in walkdir_files(dir) {
            out.insert(e.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(&e).unwrap());
        }
    }
    out
}

fn walkdir_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Starts the tool and kills it after `after`; true when it was still running then.
fn kill_after(args: &[&str], after: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aurora-hash")).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while start.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

/// How long the command takes when it is not killed, to spread the kill points over it.
fn duration_of(args: &[&str]) -> Duration {
    let t = Instant::now();
    let o = tool(args);
    assert!(o.status.success(), "{}", text(&o));
    t.elapsed()
}

/// Kills `args` at five points of its run. After each kill, every file that was there before
/// is either unchanged or (for the files the command writes) a complete file the next run
/// accepts; `check` says whether the output is usable, and a rerun must succeed.
fn kill_at_points(args: &[&str], watched: &Path, check: impl Fn() -> Result<(), String>) -> usize {
    let full = duration_of(args);
    let before = snapshot(watched);
    let mut killed = 0;
    for k in 1..=5u32 {
        let at = full * k / 6;
        if kill_after(args, at) {
            killed += 1;
        }
        let after = snapshot(watched);
        for (name, bytes) in &before {
            // Files the command owns may be replaced by complete versions; user files never.
            if name.starts_with("user-") {
                assert_eq!(after.get(name), Some(bytes), "{name} changed after a kill at {at:?}");
            }
        }
        let o = tool(args);
        assert!(o.status.success(), "rerun after a kill at {at:?}: {}", text(&o));
        check().unwrap_or_else(|e| panic!("after a kill at {at:?} and a rerun: {e}"));
        // The rerun leaves no temporary files behind.
        let left: Vec<String> = snapshot(watched).into_keys().filter(|n| n.contains(".tmp") || n.contains(".staged")).collect();
        assert!(left.is_empty(), "left over after a rerun: {left:?}");
    }
    killed
}

#[test]
fn export_index_and_site_survive_sigkill() {
    let dir = tmp("kill");
    let run = dir.join("run");
    let o = train(&run, "synthetic:4", &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let (r, bundle, archive) = (run.to_str().unwrap(), dir.join("bundle"), dir.join("archive"));
    let b = bundle.to_str().unwrap();
    for (c, class) in ["arc", "radial"].iter().enumerate() {
        std::fs::create_dir_all(archive.join(class)).unwrap();
        for i in 0..40 {
            aurora_hash::data::synthetic::frame(4, c * 2 + i * 4, 96).save(archive.join(class).join(format!("f{i:03}.png"))).unwrap();
        }
    }
    // A file of the user's beside the bundle's own.
    std::fs::create_dir_all(&bundle).unwrap();
    let mut summary = Vec::new();

    // export: the bundle folder always holds a bundle that loads.
    assert!(tool(&["export", "--run", r, "--out", b]).status.success());
    std::fs::write(bundle.join("user-notes.txt"), b"mine").unwrap();
    let export = ["export", "--run", r, "--out", b];
    let killed = kill_at_points(&export, &bundle, || {
        // The bundle loads: an index of one class folder builds from it.
        let probe = dir.join("probe.idx");
        let o = tool(&["index", "build", archive.join("arc").to_str().unwrap(), "--bundle", b, "--out", probe.to_str().unwrap(), "--device", "cpu"]);
        let _ = std::fs::remove_file(&probe);
        if o.status.success() { Ok(()) } else { Err(text(&o)) }
    });
    summary.push(format!("export: killed {killed} times mid-run"));

    // index build onto an index of half the archive, killed at several points: the index is
    // the old one or the new one, never a damaged file; a rerun completes it.
    // Beside no bundle manifest, so the build goes on from what the index holds.
    let idx = dir.join("whole.idx");
    let half = dir.join("half.idx");
    let o = tool(&["index", "build", archive.join("arc").to_str().unwrap(), "--bundle", b, "--out", half.to_str().unwrap(), "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    let build = ["index", "build", archive.to_str().unwrap(), "--bundle", b, "--out", idx.to_str().unwrap(), "--device", "cpu", "--batch", "8"];
    let full = duration_of(&build);
    let mut killed = 0;
    for k in 1..=5u32 {
        let _ = std::fs::remove_file(&idx);
        // Half of it already indexed (ids relative to arc/ there, so the whole archive is
        // encoded again: the kill lands in real work).
        std::fs::copy(&half, &idx).unwrap();
        let old = std::fs::read(&idx).unwrap();
        if kill_after(&build, full * k / 6) {
            killed += 1;
        }
        let now = std::fs::read(&idx).unwrap();
        let index = aurora_hash::index::CodeIndex::from_bytes(&now).unwrap_or_else(|e| panic!("a damaged index after a kill: {e}"));
        assert!(now == old || index.len() == 80 + 40, "after a kill: {} images", index.len());
        let o = tool(&build);
        assert!(o.status.success(), "rerun: {}", text(&o));
        let index = aurora_hash::index::CodeIndex::from_bytes(&std::fs::read(&idx).unwrap()).unwrap();
        assert_eq!(index.len(), 120);
        let left: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with(".whole.idx.tmp")).collect();
        assert!(left.is_empty(), "left over after a rerun: {left:?}");
    }
    summary.push(format!("index build: killed {killed} times mid-run"));
    // Killed while building from scratch: no index file, or a complete one.
    for ms in [200u64, 600, 1500] {
        let _ = std::fs::remove_file(&idx);
        kill_after(&build, Duration::from_millis(ms));
        if let Ok(bytes) = std::fs::read(&idx) {
            assert!(aurora_hash::index::CodeIndex::from_bytes(&bytes).is_ok(), "a damaged index after a kill at {ms} ms");
        }
    }
    assert_eq!(std::fs::read(bundle.join("user-notes.txt")).unwrap(), b"mine");

    // site: the folder is the old site or the new one; the user's file is never touched.
    let web = dir.join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>page</title>").unwrap();
    std::fs::write(web.join("app.js"), "// the page\n".repeat(400)).unwrap();
    let site = dir.join("site");
    let site_args = ["site", archive.to_str().unwrap(), "--run", r, "--out", site.to_str().unwrap(), "--web", web.to_str().unwrap(), "--device", "cpu"];
    assert!(tool(&site_args).status.success());
    std::fs::write(site.join("user-readme.txt"), b"mine too").unwrap();
    // The user's file makes the folder "not only ours": allowed because it is inside a site
    // this tool wrote (the marker lists what the tool owns).
    let killed = kill_at_points(&site_args, &site, || {
        let manifest = std::fs::read(site.join("bundle/manifest.json")).map_err(|e| e.to_string())?;
        let m: serde_json::Value = serde_json::from_slice(&manifest).map_err(|e| e.to_string())?;
        for f in m["files"].as_array().unwrap() {
            let path = site.join("bundle").join(f["path"].as_str().unwrap());
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if aurora_hash::export::sha256_hex(&bytes) != f["sha256"].as_str().unwrap() {
                return Err(format!("{} does not match the manifest", path.display()));
            }
        }
        if !site.join("app.js.br").is_file() || !site.join("app.js.gz").is_file() {
            return Err("precompressed copies missing".into());
        }
        Ok(())
    });
    summary.push(format!("site: killed {killed} times mid-run"));
    assert_eq!(std::fs::read(site.join("user-readme.txt")).unwrap(), b"mine too");
    println!("{}", summary.join("\n"));
    let _ = std::fs::remove_dir_all(dir);
}

fn refs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

#[test]
fn train_survives_sigkill() {
    let dir = tmp("kill-train");
    let args = |run: &Path| -> Vec<String> {
        let mut a: Vec<String> = ["train", "--data", "synthetic:6", "--epochs", "3", "--run", run.to_str().unwrap()].map(String::from).to_vec();
        a.extend(TINY.map(String::from));
        a
    };
    let full = duration_of(&refs(&args(&dir.join("whole"))));
    let (mut killed, mut resumed) = (0, 0);
    for k in 1..=5u32 {
        let run = dir.join(format!("r{k}"));
        if kill_after(&refs(&args(&run)), full * k / 6) {
            killed += 1;
        }
        let r = run.to_str().unwrap();
        let started = run.join("run.json").exists();
        resumed += started as usize;
        let o = if started { tool(&["train", "--resume", "--run", r, "--device", "cpu"]) } else { tool(&refs(&args(&run))) };
        assert!(o.status.success(), "after a kill at {:?}: {}", full * k / 6, text(&o));
        let pointer: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("checkpoint.json")).unwrap()).unwrap();
        assert_eq!(pointer["epoch"].as_u64(), Some(3), "{pointer}");
        // The weights it ends with load: the bundle exports.
        let o = tool(&["export", "--run", r, "--out", dir.join(format!("b{k}")).to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
    }
    println!("train: killed {killed} times mid-run ({full:?} uninterrupted), {resumed} resumed with --resume, the rest started again; every run ended at epoch 3");
    assert!(killed >= 3, "only {killed} of 5 kills landed while training ran");
    assert!(resumed >= 2, "only {resumed} kills landed after the run was written: the kill points miss the training");
    let _ = std::fs::remove_dir_all(dir);
}
