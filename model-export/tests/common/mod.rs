//! What the integration tests share: running the tool, scratch folders, and the tiny training
//! settings that keep a run to seconds.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aurora-hash")).args(args).output().expect("run aurora-hash")
}

pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aurora-hash-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A failure with a message and without a panic.
pub fn fails_with(o: &Output, needle: &str) {
    let t = text(o);
    assert!(!o.status.success(), "expected failure, got success: {t}");
    assert!(!t.contains("panicked"), "panicked: {t}");
    assert!(t.contains(needle), "expected `{needle}` in: {t}");
}

pub const TINY: [&str; 14] =
    ["--size", "64", "--width", "0.125", "--fc", "32", "--bits", "12", "--batch", "8", "--device", "cpu", "--lr", "1e-3"];

pub fn train(run: &Path, data: &str, extra: &[&str]) -> Output {
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


/// Runs the tool with a time limit: a command that has not ended by then is killed and
/// reported as a hang (a FIFO read, an endless file), so a hang fails the test instead of
/// stalling it.
pub fn tool_within(args: &[&str], limit: Duration) -> Output {
    tool_measured(args, limit).0
}

/// [`tool_within`], and the command's peak resident memory in bytes, from the kernel's own
/// accounting of the child (`wait4`'s rusage): what a decompression bomb or an endless file
/// would make the tool allocate shows here even when the command then fails cleanly.
pub fn tool_measured(args: &[&str], limit: Duration) -> (Output, u64) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_aurora-hash"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run aurora-hash");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let mut killed = false;
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if killed { 0 } else { libc::WNOHANG };
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            let o = Output { status: std::process::ExitStatus::from_raw(status), stdout: out.join().unwrap(), stderr: err.join().unwrap() };
            if killed {
                panic!("hang: `aurora-hash {}` still running after {limit:?}: {}", args.join(" "), text(&o));
            }
            // ru_maxrss is in KiB on Linux.
            return (o, usage.ru_maxrss as u64 * 1024);
        }
        assert!(r == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if start.elapsed() > limit {
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `edited` as the bundle's bundle.json with the manifest's size and checksum made to
/// match, as a hand edit with the manifest fixed up would be: what is then refused is the
/// content, not the checksum.
pub fn write_bundle_json(bundle: &Path, manifest: &serde_json::Value, edited: &serde_json::Value) {
    let bytes = serde_json::to_vec_pretty(edited).unwrap();
    let mut m = manifest.clone();
    for file in m["files"].as_array_mut().unwrap() {
        if file["name"] == "bundle.json" {
            file["size"] = bytes.len().into();
            file["sha256"] = aurora_hash::export::sha256_hex(&bytes).into();
        }
    }
    std::fs::write(bundle.join("bundle.json"), &bytes).unwrap();
    std::fs::write(bundle.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}
