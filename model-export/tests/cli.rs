//! The native tool end to end: train → eval on synthetic data, resume after a kill, and clear
//! errors (never a panic) for bad input.

use std::path::Path;
use std::process::Command;

mod common;
use common::*;

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
    // Every headline figure with its interval, the class-code baseline beside the network,
    // calibration before and after.
    for needle in ["balanced accuracy", "95% intervals", "class-code baseline MAP", "ECE", "recall per class"] {
        assert!(out.contains(needle), "`{needle}` missing: {out}");
    }
    // The run chose its checkpoint on validation blocks and kept it; it wrote its
    // augmentation contact sheet, calibration and out-of-domain statistics.
    for f in ["best.json", "augmentations.png", "calibration.json", "ood.json"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let sheet = image::open(run.join("augmentations.png")).unwrap();
    assert!(sheet.width() >= 8 * 64 && sheet.height() >= 64, "contact sheet {}×{}", sheet.width(), sheet.height());
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("eval/report.json")).unwrap()).unwrap();
    let map = report["retrieval"]["map"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&map));
    let iv = &report["intervals"]["map"];
    assert!(iv["low"].as_f64().unwrap() <= map && map <= iv["high"].as_f64().unwrap(), "{iv}");
    // The ranked order and the position order, each with its figures; the number of different
    // first pages can only be at most the number of queries.
    let queries = report["retrieval"]["queries"].as_u64().unwrap();
    let pages = report["retrieval"]["distinct_pages"].as_u64().unwrap();
    assert!(pages >= 1 && pages <= queries, "{pages} pages for {queries} queries");
    for key in ["precision_at_1", "page_right"] {
        let e = &report["intervals"][key];
        assert!(e["low"].as_f64().unwrap() <= e["value"].as_f64().unwrap() && e["value"].as_f64().unwrap() <= e["high"].as_f64().unwrap(), "{key}: {e}");
    }
    let by_position = &report["position_ties"];
    assert!(by_position["distinct_pages"].as_u64().unwrap() <= queries && (0.0..=1.0).contains(&by_position["map"]["value"].as_f64().unwrap()), "{by_position}");
    assert!(report["checkpoint"].as_str().unwrap().starts_with("best by validation"), "{}", report["checkpoint"]);
    assert_eq!(report["queries"].as_array().unwrap().len(), report["retrieval"]["queries"].as_u64().unwrap() as usize);
    for key in ["ece_before", "ece_after"] {
        let e = &report["calibration"][key];
        assert!(e["low"].as_f64().unwrap() <= e["value"].as_f64().unwrap() && e["value"].as_f64().unwrap() <= e["high"].as_f64().unwrap(), "{key}: {e}");
    }
    // The validation temperature passed the held-out check over folds of validation blocks,
    // or the raw softmax was kept, and the file says which.
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("calibration.json")).unwrap()).unwrap();
    let on = c["fitted_on"].as_str().unwrap();
    assert!(c["rule"].as_u64() == Some(2) && on.contains("folds of validation blocks"), "{c}");
    assert_eq!(c["temperature"].as_f64() == Some(1.0), on.contains("no temperature kept"), "{c}");
    for f in ["reliability.svg"] {
        assert!(run.join("eval").join(f).is_file(), "{f}");
    }
    assert_eq!(report["classification"]["normalised"].as_array().unwrap().len(), 4);
    for f in ["pr.svg", "topk.svg", "confusion.svg"] {
        let svg = std::fs::read_to_string(run.join("eval").join(f)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{f}");
    }
    // The training-free baselines on the same split: every method at every length, MAP in range.
    let o = tool(&["baselines", "--run", run.to_str().unwrap(), "--device", "cpu", "--bits", "8,16"]);
    assert!(o.status.success(), "{}", text(&o));
    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("eval/baselines.json")).unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    let methods: Vec<&str> = rows.iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(rows.len(), 1 + 2 * 4 + 4, "the network; class codes, LSH, ITQ and KSH at 8 and 16 bits; MAC, R-MAC, VLAD and HE: {methods:?}");
    for m in ["KSH on fc7", "MAC (conv5", "R-MAC", "VLAD", "HE, "] {
        assert!(methods.iter().any(|x| x.starts_with(m)), "no {m} row: {methods:?}");
    }
    assert!(rows.iter().all(|r| (0.0..=1.0).contains(&r["map"].as_f64().unwrap())));
    // Hashing rows carry their curves (for reproduce's figures); real-valued ones do not.
    for r in rows {
        let real_valued = ["MAC", "R-MAC", "VLAD", "HE, "].iter().any(|p| r["method"].as_str().unwrap().starts_with(p));
        assert_eq!(r["pr"].as_array().unwrap().is_empty(), real_valued, "{r}");
    }
    // Every row ranks equal codes by position (the baselines have no outputs to order them):
    // the network's row is eval's MAP under that rule, printed beside the ranked one.
    assert_eq!(rows[0]["map"].as_f64().unwrap(), report["position_ties"]["map"]["value"].as_f64().unwrap(), "the network's row is eval's MAP with ties by position");
    // The split is by sample id and disjoint.
    let split: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("split.json")).unwrap()).unwrap();
    let train: Vec<&str> = split["train"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(split["test"].as_array().unwrap().iter().all(|t| !train.contains(&t.as_str().unwrap())));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn out_of_domain_table_compare_and_repeat() {
    let dir = tmp("ood");
    let run_a = dir.join("a");
    let run_b = dir.join("b");
    assert!(train(&run_a, "synthetic:8", &["--epochs", "1"]).status.success());
    assert!(train(&run_b, "synthetic:8", &["--epochs", "2", "--seed", "5"]).status.success());
    // Pictures that are not all-sky frames: bright gradients with no dark border.
    let strangers = dir.join("strangers/sub");
    std::fs::create_dir_all(&strangers).unwrap();
    for i in 0..6u32 {
        let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6 + i * 20) as u8, (y * 8) as u8, 200]));
        img.save(strangers.join(format!("p{i}.jpg"))).unwrap();
    }
    let o = tool(&["eval", "--run", run_a.to_str().unwrap(), "--device", "cpu", "--ood", dir.join("strangers").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("out of domain: Mahalanobis") && out.contains("AUROC") && out.contains("6 images"), "{out}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(run_a.join("eval/report.json")).unwrap()).unwrap();
    let row = &report["ood"]["rows"][0];
    assert_eq!(row["auroc"].as_array().unwrap().len(), 6, "five layers and the softmax: {row}");
    assert_eq!(row["auroc_validation"].as_array().unwrap().len(), 5, "five layers against the validation frames: {row}");
    for a in row["auroc"].as_array().unwrap().iter().chain(row["auroc_validation"].as_array().unwrap()) {
        assert!((0.0..=1.0).contains(&a[1].as_f64().unwrap()), "{a}");
    }
    assert_eq!(report["ood"]["shipped"].as_str().unwrap().split(',').nth(1).unwrap().trim(), "conv1-conv5 (spatial means)", "{}", report["ood"]);
    // Paired comparison of the two runs on the same test images.
    assert!(tool(&["eval", "--run", run_b.to_str().unwrap(), "--device", "cpu"]).status.success());
    let o = tool(&["compare", run_a.to_str().unwrap(), run_b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("balanced accuracy") && text(&o).contains("paired 95% intervals"), "{}", text(&o));
    // A run on another split cannot be compared.
    let run_c = dir.join("c");
    assert!(train(&run_c, "synthetic:8", &["--epochs", "1", "--split-seed", "9"]).status.success());
    assert!(tool(&["eval", "--run", run_c.to_str().unwrap(), "--device", "cpu"]).status.success());
    fails_with(&tool(&["compare", run_a.to_str().unwrap(), run_c.to_str().unwrap()]), "same test images");
    // Two folds × one seed, with the summary.
    let rep = dir.join("repeat");
    let o = tool(&[
        "repeat", "--out", rep.to_str().unwrap(), "--folds", "2", "--seeds", "3", "--device", "cpu",
        "--train-args", "--data synthetic:6 --size 64 --width 0.125 --fc 32 --bits 12 --batch 8 --epochs 1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(rep.join("summary.md")).unwrap();
    assert!(md.contains("fold-1-seed-3") && md.contains("fold-2-seed-3") && md.contains("mean ± sd"), "{md}");
    let split1: serde_json::Value = serde_json::from_slice(&std::fs::read(rep.join("fold-1-seed-3/split.json")).unwrap()).unwrap();
    let split2: serde_json::Value = serde_json::from_slice(&std::fs::read(rep.join("fold-2-seed-3/split.json")).unwrap()).unwrap();
    let test1: Vec<&serde_json::Value> = split1["test"].as_array().unwrap().iter().collect();
    assert!(split2["test"].as_array().unwrap().iter().all(|t| !test1.contains(&t)), "folds test disjoint images");
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
    // Every time: loading the optimiser state once started burn's default device (wgpu, Mesa's
    // software GL here), whose teardown corrupted the heap in about one exit in twenty; 40 clean
    // exits in a row had a 13% chance then.
    for _ in 0..40 {
        let o = tool(&["train", "--resume", "--run", run.to_str().unwrap(), "--device", "cpu"]);
        assert!(o.status.success() && text(&o).contains("already finished"), "{}", text(&o));
    }
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
    // One bad image among good ones: named, skipped, and the run trains on the rest; with
    // --strict it stops there.
    let o = train(&dir.join("r1"), data.to_str().unwrap(), &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("skipped") && text(&o).contains("broken.png"), "{}", text(&o));
    fails_with(&train(&dir.join("r1s"), data.to_str().unwrap(), &["--epochs", "1", "--strict"]), "broken.png");
    // Truncated image.
    let full = std::fs::read(data.join("a/0.png")).unwrap();
    std::fs::write(data.join("b/broken.png"), &full[..full.len() / 3]).unwrap();
    fails_with(&train(&dir.join("r2"), data.to_str().unwrap(), &["--epochs", "1", "--strict"]), "broken.png");
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
    fails_with(&train(&dir.join("r9"), "synthetic:4", &["--lr=-1"]), "learning rate must be a positive number");
    fails_with(&tool(&["eval", "--run", dir.join("nothing").to_str().unwrap()]), "not a run folder");
    // Damaged weights.
    let run = dir.join("r8");
    let o = train(&run, "synthetic:4", &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    // eval loads the checkpoint chosen by validation (best-1/), the one export ships.
    let w = run.join("best-1/model.bpk");
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

#[test]
fn export_index_query_and_merge() {
    let dir = tmp("bundle");
    let run = dir.join("run");
    assert!(train(&run, "synthetic:6", &["--epochs", "1"]).status.success());
    let bundle = dir.join("bundle");
    let o = tool(&["export", "--run", run.to_str().unwrap(), "--out", bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("q8 weights"), "{}", text(&o));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["files"].as_array().unwrap().len(), 2);
    // An archive in two halves, class folders giving labels.
    let archive = dir.join("archive");
    for (c, class) in ["arc", "radial"].iter().enumerate() {
        std::fs::create_dir_all(archive.join(class)).unwrap();
        for i in 0..3 {
            let img = aurora_hash::data::synthetic::frame(9, c * 2 + i * 4, 80);
            img.save(archive.join(class).join(format!("N20031221G0{c}{i}000.png"))).unwrap();
        }
    }
    let b = bundle.to_str().unwrap();
    let idx = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let build = |sub: &str, out: &str| tool(&["index", "build", archive.join(sub).to_str().unwrap(), "--bundle", b, "--out", out, "--device", "cpu"]);
    let whole = tool(&["index", "build", archive.to_str().unwrap(), "--bundle", b, "--out", &idx("whole.idx"), "--device", "cpu"]);
    assert!(whole.status.success(), "{}", text(&whole));
    assert!(build("arc", &idx("arc.idx")).status.success());
    assert!(build("radial", &idx("radial.idx")).status.success());
    // Incremental: building the whole archive into an index that holds 3 of its images.
    std::fs::copy(dir.join("whole.idx"), dir.join("inc.idx")).unwrap();
    let again = tool(&["index", "build", archive.to_str().unwrap(), "--bundle", b, "--out", &idx("inc.idx"), "--device", "cpu"]);
    assert!(text(&again).contains("6 already indexed, 0 to encode"), "{}", text(&again));
    let read = |name: &str| aurora_hash::index::CodeIndex::from_bytes(&std::fs::read(dir.join(name)).unwrap()).unwrap();
    let whole_idx = read("whole.idx");
    assert_eq!(whole_idx.len(), 6);
    assert_eq!(whole_idx.entries[0].label, Some(0));
    assert!(whole_idx.entries[0].timestamp.is_some());
    // Shards built separately (ids relative to each shard's folder differ from the whole
    // build's, so compare codes and classes by file name).
    let o = tool(&["index", "merge", &idx("arc.idx"), &idx("radial.idx"), "--out", &idx("merged.idx")]);
    assert!(o.status.success(), "{}", text(&o));
    // A file of the user's at --out is not replaced by a merge.
    std::fs::write(dir.join("notes.txt"), b"my notes").unwrap();
    fails_with(&tool(&["index", "merge", &idx("arc.idx"), &idx("radial.idx"), "--out", &idx("notes.txt")]), "notes.txt");
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"my notes");
    let merged = read("merged.idx");
    assert_eq!(merged.len(), 6);
    assert_eq!(merged.codes, whole_idx.codes);
    // `index score` of the folder's index under a run trained from a CSV manifest of the same
    // images: the run names them by stem, the index by path; MAP comes with its interval.
    let mut csv = String::from("name,class\n");
    for e in &whole_idx.entries {
        let (class, file) = e.id.split_once('/').unwrap();
        csv += &format!("{},{class}\n", file.trim_end_matches(".png"));
    }
    std::fs::write(archive.join("labels.csv"), csv).unwrap();
    let csv_run = dir.join("csv-run");
    let o = train(&csv_run, archive.join("labels.csv").to_str().unwrap(), &["--epochs", "1", "--validation-fraction", "0", "--test-fraction", "0.34"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tool(&["index", "score", &idx("whole.idx"), "--run", csv_run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("MAP") && text(&o).contains("95% bootstrap over"), "{}", text(&o));
    // Query: text and JSON, the nearest hit of an archive image is itself at distance 0.
    let q = archive.join("radial/N20031221G010000.png");
    let o = tool(&["query", q.to_str().unwrap(), "--bundle", b, "--index", &idx("whole.idx"), "--k", "3", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["neighbours"][0]["distance"], 0);
    assert_eq!(v["neighbours"].as_array().unwrap().len(), 3);
    let o = tool(&["query", q.to_str().unwrap(), "--bundle", b, "--index", &idx("whole.idx")]);
    assert!(text(&o).contains("nearest"), "{}", text(&o));
    // `query … | head`: a reader that goes away ends the command quietly, not in a panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_aurora-hash"))
        .args(["query", q.to_str().unwrap(), q.to_str().unwrap(), q.to_str().unwrap(), "--bundle", b, "--index", &idx("whole.idx")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("panicked"), "{}", text(&o));
    // Damaged index and bundle files are named.
    let mut bytes = std::fs::read(dir.join("whole.idx")).unwrap();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(dir.join("bad.idx"), &bytes).unwrap();
    fails_with(&tool(&["query", q.to_str().unwrap(), "--bundle", b, "--index", &idx("bad.idx")]), "bad.idx");
    let w = bundle.join("model.bpk");
    let mut wb = std::fs::read(&w).unwrap();
    let mid = wb.len() / 2;
    wb[mid] ^= 0xFF;
    std::fs::write(&w, &wb).unwrap();
    fails_with(&tool(&["query", q.to_str().unwrap(), "--bundle", b, "--index", &idx("whole.idx")]), "model.bpk");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn reproduce_quick_writes_every_table_with_the_papers_numbers() {
    let dir = tmp("reproduce");
    let out = dir.join("repro");
    let o = tool(&["reproduce", "--quick", "--data", "synthetic:6", "--out", out.to_str().unwrap(), "--device", "cpu", "--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("RESULTS.md")).unwrap();
    for needle in ["## Protocol of every number", "## Tables 1–2", "## Tables 3–4", "## Table 6", "0.9095", "one code per predicted class", "R-MAC", "| CNNH", "| KSH on fc7", "VLAD", "HE, ", "## Figures"] {
        assert!(md.contains(needle), "`{needle}` missing from RESULTS.md:\n{md}");
    }
    for run in ["alexnet-12", "alexnet-sp-48", "im-alexnet-sp-48", "alexnet-48-no-hash-loss", "dsh-48", "dpsh-48", "cnnh-48"] {
        assert!(out.join(run).join("eval/report.json").is_file(), "{run} was not evaluated");
    }
    // Every figure the document shows is there, and is an SVG.
    for name in md.split("](figures/").skip(1).map(|rest| &rest[..rest.find(')').unwrap()]) {
        let svg = std::fs::read_to_string(out.join("figures").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"), "{name}");
    }
    assert_eq!(md.matches("](figures/").count(), 8, "figures 4a–c, 5 ×3, 6b–c");
    let _ = std::fs::remove_dir_all(dir);
}

/// `site --out` never destroys what the tool did not write: a folder holding other files is
/// refused (and left as it was) unless --force, a rebuild removes only files its own last build
/// wrote, and it does not write through a symlink out of the folder.
#[test]
fn site_never_deletes_files_it_did_not_write() {
    let dir = tmp("site-safety");
    let run = dir.join("run");
    assert!(train(&run, "synthetic:4", &["--epochs", "1"]).status.success());
    // A page folder: `site` needs only its index.html here (no single-file build).
    let web = dir.join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>page</title>").unwrap();
    let images = dir.join("images");
    std::fs::create_dir_all(images.join("arc")).unwrap();
    for i in 0..3 {
        aurora_hash::data::synthetic::frame(3, i * 4, 64).save(images.join("arc").join(format!("f{i}.png"))).unwrap();
    }
    let site = |out: &Path, extra: &[&str]| {
        let mut args = vec!["site", images.to_str().unwrap(), "--run", run.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "cpu", "--web", web.to_str().unwrap()];
        args.extend(extra);
        tool(&args)
    };
    // The case: a folder of the user's own files.
    let victim = dir.join("victim");
    std::fs::create_dir_all(victim.join("sub")).unwrap();
    std::fs::write(victim.join("thesis.docx"), b"four years of work").unwrap();
    std::fs::write(victim.join("sub/results.csv"), b"a,b\n1,2\n").unwrap();
    fails_with(&site(&victim, &[]), "thesis.docx");
    assert_eq!(std::fs::read(victim.join("thesis.docx")).unwrap(), b"four years of work");
    assert!(!victim.join("index.html").exists(), "nothing is written into a refused folder");
    // --force writes the site beside them and removes nothing.
    let o = site(&victim, &["--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 removed"), "{}", text(&o));
    assert_eq!(std::fs::read(victim.join("sub/results.csv")).unwrap(), b"a,b\n1,2\n");
    assert!(victim.join("index.html").is_file() && victim.join("images/arc/f0.png").is_file());

    // A fresh site, a file the user adds to it, and a rebuild with one image fewer: only the
    // gone image's own files are removed.
    let out = dir.join("site");
    assert!(site(&out, &[]).status.success());
    std::fs::write(out.join("NOTES.md"), b"my notes").unwrap();
    std::fs::remove_file(images.join("arc/f2.png")).unwrap();
    let o = site(&out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!out.join("images/arc/f2.png").exists(), "the removed image's copy stays: {}", text(&o));
    assert!(out.join("images/arc/f1.png").is_file());
    assert_eq!(std::fs::read(out.join("NOTES.md")).unwrap(), b"my notes");

    // A symlink where the site writes a folder is not written through.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("keep.txt"), b"keep").unwrap();
    std::fs::remove_dir_all(out.join("images")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("images")).unwrap();
    fails_with(&site(&out, &[]), "symlink");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 1, "nothing written or removed through the link");
    // A file named like the one-file site that this tool did not write is not replaced.
    let page = dir.join("page.html");
    std::fs::write(&page, b"<html>my own page</html>").unwrap();
    std::fs::remove_file(out.join("images")).unwrap();
    fails_with(&site(&out, &["--single-file", page.to_str().unwrap()]), "page.html");
    assert_eq!(std::fs::read(&page).unwrap(), b"<html>my own page</html>");
    let _ = std::fs::remove_dir_all(dir);
}

/// A bundle.json that disagrees with itself (its checksum updated to match, as a hand edit
/// with the manifest fixed up would be) is refused naming the file and the field, never a
/// panic or an unbounded allocation.
#[test]
fn bundle_that_disagrees_with_itself_is_refused_by_name() {
    let dir = tmp("bundle-fields");
    let run = dir.join("run");
    assert!(train(&run, "synthetic:4", &["--epochs", "1"]).status.success());
    let bundle = dir.join("bundle");
    assert!(tool(&["export", "--run", run.to_str().unwrap(), "--out", bundle.to_str().unwrap()]).status.success());
    let photo = dir.join("photo.png");
    aurora_hash::data::synthetic::frame(1, 0, 80).save(&photo).unwrap();
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let cases: [(&str, serde_json::Value, &str); 9] = [
        // Weights of another shape than bundle.json describes: both files and the tensor named.
        ("/model/bits", 16.into(), "`hash.weight` is [32, 12] in model.bpk, the model needs [32, 16]"),
        ("/preprocess/size", 65.into(), "preprocess.size"),
        ("/preprocess/channels", 3.into(), "preprocess.channels"),
        ("/preprocess/std", 0.into(), "preprocess.std"),
        ("/model/input_size", 1_000_000.into(), "too large"),
        ("/model/fc_width", 100_000_000.into(), "fc_width"),
        ("/confidence/temperature", (-1.0).into(), "temperature"),
        // Class offsets (absent from this bundle): one per class, of a sane size.
        ("/confidence/class_offsets", serde_json::json!([0.0, 1.0]), "class_offsets"),
        ("/confidence/class_offsets", serde_json::json!([0.0, 1.0, 1e6, 0.0]), "class_offsets"),
    ];
    for (pointer, value, needle) in cases {
        let mut edited = original.clone();
        if pointer == "/confidence/class_offsets" {
            edited["confidence"]["class_offsets"] = serde_json::Value::Null;
        }
        *edited.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value;
        if pointer == "/model/input_size" {
            edited["preprocess"]["size"] = 1_000_000.into();
        }
        write_bundle_json(&bundle, &manifest, &edited);
        let o = tool(&["query", photo.to_str().unwrap(), "--bundle", bundle.to_str().unwrap(), "--device", "cpu"]);
        fails_with(&o, "bundle.json");
        fails_with(&o, needle);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn run_without_validation_gets_threshold_and_calibration_from_folds() {
    let dir = tmp("calibrate");
    let full = dir.join("full");
    // With a moving average of the weights (`--average-epochs`): what is validated, exported
    // and calibrated must be the average, not the last step's weights.
    let o = train(&full, "synthetic:8", &["--epochs", "2", "--average-epochs", "1", "--validation-fraction", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    // No validation frames: the out-of-domain threshold comes from out-of-fold scores of the
    // training frames instead of being left at +∞ (no verdict).
    assert!(text(&o).contains("out-of-fold"), "{}", text(&o));
    let ood: serde_json::Value = serde_json::from_slice(&std::fs::read(full.join("ood.json")).unwrap()).unwrap();
    assert!(ood["model"]["threshold"].as_f64().is_some_and(f64::is_finite), "{ood}");
    assert!(ood["threshold_from"].as_str().unwrap().contains("out-of-fold"), "{ood}");
    let folds: Vec<_> = (1..=2).map(|k| dir.join(format!("fold{k}"))).collect();
    for (k, f) in folds.iter().enumerate() {
        let fold = (k + 1).to_string();
        let o = train(f, "synthetic:8", &["--epochs", "2", "--average-epochs", "1", "--validation-folds", "2", "--validation-fold", &fold]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let (full_s, f1, f2) = (full.to_str().unwrap(), folds[0].to_str().unwrap(), folds[1].to_str().unwrap());
    // Refused: a run with validation blocks; one fold given twice; a fold of other settings.
    fails_with(&tool(&["calibrate", "--run", f1, "--folds", f1, f2, "--device", "cpu"]), "has validation blocks");
    fails_with(&tool(&["calibrate", "--run", full_s, "--folds", f1, f1, "--device", "cpu"]), "validated by an earlier fold run");
    let other = dir.join("other");
    assert!(train(&other, "synthetic:8", &["--epochs", "1", "--bits", "16", "--validation-folds", "2", "--validation-fold", "2"]).status.success());
    fails_with(&tool(&["calibrate", "--run", full_s, "--folds", f1, other.to_str().unwrap(), "--device", "cpu"]), "settings");
    assert!(!full.join("calibration.json").exists() || {
        let c: serde_json::Value = serde_json::from_slice(&std::fs::read(full.join("calibration.json")).unwrap()).unwrap();
        c["validation_images"].as_u64() == Some(0)
    });
    let o = tool(&["calibrate", "--run", full_s, "--folds", f1, f2, "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("cross-validated on the training nights") && text(&o).contains("temperature"), "{}", text(&o));
    // Each fold run's frames were scored by the model its training validated (the average):
    // the pooled raw NLL is the frame-weighted mean of the fold runs' last validation NLLs.
    let (mut sum, mut n) = (0.0, 0.0);
    for f in &folds {
        let metrics = std::fs::read_to_string(f.join("metrics.jsonl")).unwrap();
        let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
        let v = &last["validation"];
        sum += v["nll"].as_f64().unwrap() * v["images"].as_f64().unwrap();
        n += v["images"].as_f64().unwrap();
    }
    let raw_line = text(&o).lines().find(|l| l.trim_start().starts_with("raw softmax")).map(str::to_owned).unwrap_or_else(|| panic!("{}", text(&o)));
    let pooled: f64 = raw_line.split("NLL ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{raw_line}"));
    assert!((pooled - sum / n).abs() < 2e-3, "calibrate's pooled NLL {pooled} against the fold runs' validation {}", sum / n);
    let split: serde_json::Value = serde_json::from_slice(&std::fs::read(full.join("split.json")).unwrap()).unwrap();
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(full.join("calibration.json")).unwrap()).unwrap();
    assert_eq!(c["validation_images"].as_u64().unwrap() as usize, split["train"].as_array().unwrap().len(), "every training frame scored out of fold once: {c}");
    assert!(c["temperature"].as_f64().is_some_and(|t| t > 0.0) && c["fitted_on"].as_str().unwrap().contains("fold runs"), "{c}");
    // Class offsets are weighed on frames they were not fitted on, and kept only if they help;
    // kept or not, the file says what was kept.
    for line in ["raw softmax", "temperature + class offsets", "kept: "] {
        assert!(text(&o).contains(line), "no `{line}` in: {}", text(&o));
    }
    let kept_offsets = text(&o).contains("kept: temperature and class offsets");
    let offsets = c["class_offsets"].as_array().map_or(0, Vec::len);
    assert_eq!(offsets, if kept_offsets { 4 } else { 0 }, "{c}");
    // The temperature itself is kept only if the held-out frames gain from it; dropped, the
    // file says T = 1.
    let raw = text(&o).contains("kept: raw softmax");
    assert_eq!(raw, c["temperature"].as_f64() == Some(1.0) && offsets == 0, "{c}");
    let o = tool(&["calibrate", "--run", full_s, "--folds", f1, f2, "--device", "cpu", "--temperature-only"]);
    assert!(o.status.success(), "{}", text(&o));
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(full.join("calibration.json")).unwrap()).unwrap();
    assert!(c.get("class_offsets").is_none(), "{c}");
    if text(&o).contains("kept: raw softmax") {
        assert!(c["temperature"].as_f64() == Some(1.0) && c["fitted_on"].as_str().unwrap().contains("no temperature kept"), "{c}");
    } else {
        assert!(text(&o).contains("kept: temperature only (--temperature-only)"), "{}", text(&o));
    }
    // eval then uses it and says where it came from.
    let o = tool(&["eval", "--run", full_s, "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("fitted on the out-of-fold predictions"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn export_generate_index_and_train_never_overwrite_user_files() {
    let dir = tmp("out-safety");
    let mine = |p: &Path| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"the user's").unwrap();
    };
    let kept = |p: &Path| assert_eq!(std::fs::read(p).unwrap(), b"the user's", "{} was changed", p.display());
    // A run is not started in a folder of the user's.
    let notes = dir.join("folder/notes.txt");
    mine(&notes);
    fails_with(&train(&dir.join("folder"), "synthetic:4", &["--epochs", "1"]), "holds no run");
    kept(&notes);
    assert!(!dir.join("folder/run.json").exists());
    let run = dir.join("run");
    assert!(train(&run, "synthetic:4", &["--epochs", "1"]).status.success());
    let r = run.to_str().unwrap();
    // export and generate: refused in a folder of the user's; with --force they write beside
    // the user's file and leave it.
    let folder = dir.join("folder");
    let f = folder.to_str().unwrap();
    fails_with(&tool(&["export", "--run", r, "--out", f]), "notes.txt");
    fails_with(&tool(&["generate", "--out", f, "--per-class", "1", "--size", "64"]), "notes.txt");
    assert!(!folder.join("model.bpk").exists());
    let o = tool(&["export", "--run", r, "--out", f, "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    kept(&notes);
    // index build: a file at --out that is not an index, and a thumbs/ folder holding a file of
    // the user's, are refused before anything is written.
    let images = dir.join("images/arc");
    std::fs::create_dir_all(&images).unwrap();
    for i in 0..3 {
        aurora_hash::data::synthetic::frame(3, i * 4, 64).save(images.join(format!("f{i}.png"))).unwrap();
    }
    let imgs = dir.join("images");
    let essay = dir.join("essay.idx");
    mine(&essay);
    let build = |out: &Path, extra: &[&str]| {
        let mut args = vec!["index", "build", imgs.to_str().unwrap(), "--bundle", f, "--out", out.to_str().unwrap(), "--device", "cpu"];
        args.extend(extra);
        tool(&args)
    };
    fails_with(&build(&essay, &[]), "is not an index this tool wrote");
    kept(&essay);
    let photo = dir.join("thumbs/holiday.jpg");
    mine(&photo);
    fails_with(&build(&dir.join("new.idx"), &["--thumbs"]), "holiday.jpg");
    kept(&photo);
    assert!(!dir.join("new.idx").exists());
    // Into the bundle folder itself: the index and its thumbnails are written, and written
    // again over themselves.
    let idx = folder.join("archive.idx");
    for _ in 0..2 {
        let o = build(&idx, &["--thumbs"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(std::fs::read_dir(folder.join("thumbs")).unwrap().count(), 3);
    kept(&notes);
    let _ = std::fs::remove_dir_all(dir);
}

/// `train --unlabeled --teacher`: unlabelled frames of the run's test and validation time blocks
/// never join its training (they are near-duplicates of held-out frames), and a teacher that
/// trained on frames the run holds out is refused.
#[test]
fn pseudo_labels_never_bring_held_out_blocks_into_training() {
    let dir = tmp("pseudo");
    // Two classes in six 10-minute blocks (the time is in the YRS-style names), and one
    // unlabelled frame 5 s after a labelled one in every block.
    let (data, unlabeled) = (dir.join("labeled"), dir.join("unlabeled"));
    std::fs::create_dir_all(&unlabeled).unwrap();
    for (c, class) in ["arc", "radial"].iter().enumerate() {
        std::fs::create_dir_all(data.join(class)).unwrap();
        for b in 0..3 {
            let minute = 10 * (c * 3 + b);
            for i in 0..4 {
                let img = aurora_hash::data::synthetic::frame(5, c * 2 + (b * 4 + i) * 4, 64);
                img.save(data.join(class).join(format!("N20031221G03{minute:02}{:02}.png", i * 10))).unwrap();
            }
            aurora_hash::data::synthetic::frame(6, c * 2 + b * 4, 64).save(unlabeled.join(format!("N20031221G03{minute:02}05.png"))).unwrap();
        }
    }
    let data = data.to_str().unwrap();
    let split = ["--epochs", "1", "--validation-fraction", "0", "--test-fraction", "0.34"];
    let teacher = dir.join("teacher");
    let o = train(&teacher, data, &split);
    assert!(o.status.success(), "{}", text(&o));
    let student = dir.join("student");
    let mut args = split.to_vec();
    args.extend(["--unlabeled", unlabeled.to_str().unwrap(), "--teacher", teacher.to_str().unwrap(), "--pseudo-threshold", "0.01"]);
    let o = train(&student, data, &args);
    assert!(o.status.success(), "{}", text(&o));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(student.join("split.json")).unwrap()).unwrap();
    let block = |name: &str| aurora_hash::data::split::timestamp_from_name(name).unwrap() / 600;
    let held: std::collections::HashSet<i64> = saved["test"].as_array().unwrap().iter().map(|v| block(v.as_str().unwrap())).collect();
    assert!(!held.is_empty() && held.len() < 6, "{saved}");
    assert!(text(&o).contains(&format!("{} of 6 frames lie in this run's test or validation time blocks", held.len())), "{}", text(&o));
    let pseudo: serde_json::Value = serde_json::from_slice(&std::fs::read(student.join("pseudo.json")).unwrap()).unwrap();
    let frames = pseudo["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 6 - held.len(), "{pseudo}");
    assert!(frames.iter().all(|f| !held.contains(&block(f["path"].as_str().unwrap()))), "{pseudo}");
    // Fold runs without pseudo-labels do not stand in for a run that took them.
    let fold = dir.join("fold");
    let o = train(&fold, data, &["--epochs", "1", "--test-fraction", "0.34", "--validation-folds", "2", "--validation-fold", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let f = fold.to_str().unwrap();
    fails_with(&tool(&["calibrate", "--run", student.to_str().unwrap(), "--folds", f, f, "--device", "cpu"]), "pseudo-labels");
    // A run that validates on blocks the teacher trained on: refused, nothing trained.
    let o = train(&dir.join("refused"), data, &["--epochs", "1", "--validation-fraction", "0.5", "--test-fraction", "0.34", "--unlabeled", unlabeled.to_str().unwrap(), "--teacher", teacher.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("holds out for test or validation"), "{}", text(&o));
    assert!(!dir.join("refused").exists(), "a refused run leaves no folder");
    let _ = std::fs::remove_dir_all(dir);
}
