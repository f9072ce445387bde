//! The native tool end to end: train → eval on synthetic data, resume after a kill, and clear
//! errors (never a panic) for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aurora-hash")).args(args).output().expect("run aurora-hash")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aurora-hash-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A failure with a message and without a panic.
fn fails_with(o: &Output, needle: &str) {
    let t = text(o);
    assert!(!o.status.success(), "expected failure, got success: {t}");
    assert!(!t.contains("panicked"), "panicked: {t}");
    assert!(t.contains(needle), "expected `{needle}` in: {t}");
}

const TINY: [&str; 14] =
    ["--size", "64", "--width", "0.125", "--fc", "32", "--bits", "12", "--batch", "8", "--device", "cpu", "--lr", "1e-3"];

fn train(run: &Path, data: &str, extra: &[&str]) -> Output {
    let run = run.to_str().unwrap();
    let mut args = vec!["train", "--data", data, "--run", run];
    // Settings given in `extra` replace the tiny defaults.
    for pair in TINY.chunks(2) {
        if !extra.iter().any(|e| e.split('=').next() == Some(pair[0])) {
            args.extend(pair);
        }
    }
    args.extend(extra);
    tool(&args)
}

#[test]
fn train_then_eval_writes_report_and_plots() {
    let dir = tmp("eval");
    let run = dir.join("run");
    let o = train(&run, "synthetic:10", &["--epochs", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tool(&["eval", "--run", run.to_str().unwrap(), "--device", "cpu", "--map-at", "5"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("MAP") && out.contains("accuracy"), "{out}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("eval/report.json")).unwrap()).unwrap();
    let map = report["retrieval"]["map"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&map));
    assert_eq!(report["classification"]["normalised"].as_array().unwrap().len(), 4);
    for f in ["pr.svg", "topk.svg", "confusion.svg"] {
        let svg = std::fs::read_to_string(run.join("eval").join(f)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{f}");
    }
    // The split is by sample id and disjoint.
    let split: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("split.json")).unwrap()).unwrap();
    let train: Vec<&str> = split["train"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(split["test"].as_array().unwrap().iter().all(|t| !train.contains(&t.as_str().unwrap())));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn resume_after_a_kill_loses_nothing() {
    let dir = tmp("resume");
    let run = dir.join("run");
    let o = train(&run, "synthetic:6", &["--epochs", "3", "--max-epochs-now", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let ptr: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("checkpoint.json")).unwrap()).unwrap();
    assert_eq!(ptr["epoch"], 1);
    // What a kill during the next checkpoint leaves: a half-written folder and temp file.
    std::fs::create_dir_all(run.join(".checkpoint-2.tmp")).unwrap();
    std::fs::write(run.join(".checkpoint-2.tmp/model.bpk"), b"half").unwrap();
    std::fs::write(run.join(".metrics.jsonl.tmp-999"), b"{\"epo").unwrap();
    // Resuming ignores the command line's settings in favour of the run's own.
    let o = tool(&["train", "--resume", "--run", run.to_str().unwrap(), "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming"), "{}", text(&o));
    let ptr: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("checkpoint.json")).unwrap()).unwrap();
    assert_eq!(ptr["epoch"], 3);
    assert!(run.join("checkpoint-3/model.bpk").is_file() && !run.join("checkpoint-1").exists());
    let epochs: Vec<u64> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, vec![1, 2, 3]);
    // A finished run resumed again is a no-op, not an error.
    let o = tool(&["train", "--resume", "--run", run.to_str().unwrap(), "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains("already finished"), "{}", text(&o));
    // Creating over an existing run is refused rather than overwriting it.
    fails_with(&train(&run, "synthetic:6", &["--epochs", "1"]), "already holds a run");
    let _ = std::fs::remove_dir_all(dir);
}

fn write_png(path: &Path, size: u32) {
    let img = image::GrayImage::from_fn(size, size, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8]));
    img.save(path).unwrap();
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tmp("bad");
    // A class-per-folder set with one corrupt file.
    let data = dir.join("data");
    for c in ["a", "b"] {
        std::fs::create_dir_all(data.join(c)).unwrap();
        for i in 0..4 {
            write_png(&data.join(c).join(format!("{i}.png")), 70);
        }
    }
    std::fs::write(data.join("b/broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    fails_with(&train(&dir.join("r1"), data.to_str().unwrap(), &["--epochs", "1"]), "broken.png");
    // Truncated image.
    let full = std::fs::read(data.join("a/0.png")).unwrap();
    std::fs::write(data.join("b/broken.png"), &full[..full.len() / 3]).unwrap();
    fails_with(&train(&dir.join("r2"), data.to_str().unwrap(), &["--epochs", "1"]), "broken.png");
    std::fs::remove_file(data.join("b/broken.png")).unwrap();
    // An empty class folder.
    std::fs::create_dir_all(data.join("c")).unwrap();
    fails_with(&train(&dir.join("r3"), data.to_str().unwrap(), &["--epochs", "1"]), "has no images");
    std::fs::remove_dir_all(data.join("c")).unwrap();
    // One class only.
    let one = dir.join("one");
    std::fs::create_dir_all(one.join("only")).unwrap();
    write_png(&one.join("only/x.png"), 70);
    fails_with(&train(&dir.join("r4"), one.to_str().unwrap(), &["--epochs", "1"]), "only one class");
    // Missing dataset, bad settings.
    fails_with(&train(&dir.join("r5"), "/nonexistent/aurora", &[]), "does not exist");
    fails_with(&train(&dir.join("r6"), "synthetic:4", &["--bits", "0"]), "bits must be between");
    fails_with(&train(&dir.join("r7"), "synthetic:4", &["--size", "8"]), "too small");
    fails_with(&train(&dir.join("r9"), "synthetic:4", &["--lr=-1"]), "--lr must be");
    fails_with(&tool(&["eval", "--run", dir.join("nothing").to_str().unwrap()]), "not a run folder");
    // Damaged weights.
    let run = dir.join("r8");
    let o = train(&run, "synthetic:4", &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let w = run.join("checkpoint-1/model.bpk");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&tool(&["eval", "--run", run.to_str().unwrap(), "--device", "cpu"]), "model.bpk");
    std::fs::write(&w, b"this is not a weights file").unwrap();
    fails_with(&tool(&["eval", "--run", run.to_str().unwrap(), "--device", "cpu"]), "model.bpk");
    // A damaged run.json.
    std::fs::write(run.join("run.json"), b"{\"format\": 1, \"model\": ").unwrap();
    fails_with(&tool(&["eval", "--run", run.to_str().unwrap(), "--device", "cpu"]), "run.json");
    let _ = std::fs::remove_dir_all(dir);
}
