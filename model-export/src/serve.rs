//! `aurora-hash serve`: a static file server for a built site on this machine, so the demo page
//! (and the browser tests) need nothing but the tool itself.
//!
//! Deliberately small: GET and HEAD of files under one folder, on the loopback interface by
//! default, with the MIME types a wasm page needs (`application/wasm` lets the browser compile
//! while downloading). Not meant to face the internet: publish a site on any static host.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The site folder (the page, its wasm, bundle/).
    pub dir: PathBuf,
    /// Port; 0 picks a free one (printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on. The default serves this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}

pub fn serve(a: &ServeArgs) -> Result<()> {
    if !a.dir.join("index.html").is_file() {
        bail!("{}: no index.html here: not a built site (build the page with `trunk build --release`)", a.dir.display());
    }
    let listener = TcpListener::bind((a.host.as_str(), a.port)).with_context(|| format!("cannot listen on {}:{}", a.host, a.port))?;
    let addr = listener.local_addr()?;
    println!("serving {} at http://{addr}/ (Ctrl+C to stop)", a.dir.display());
    std::io::stdout().flush()?;
    let root = a.dir.canonicalize().with_context(|| format!("cannot open {}", a.dir.display()))?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let root = root.clone();
        std::thread::spawn(move || {
            // A client that hangs up mid-response is its own business.
            let _ = handle(stream, &root);
        });
    }
    Ok(())
}

/// Copies the page trunk built (`web`, its dist/ folder) into `site`, beside the bundle.
/// Returns the number of files copied.
pub fn copy_site(web: &Path, site: &Path) -> Result<usize> {
    if !web.join("index.html").is_file() {
        bail!("{}: no index.html: build the page first with `trunk build --release`", web.display());
    }
    let files = crate::site::list_files(web)?;
    for path in &files {
        let target = site.join(path.strip_prefix(web).expect("under web"));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        crate::run::write_atomic(&target, &bytes)?;
    }
    let copied = files.len();
    Ok(copied)
}

fn handle(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut keep_alive = true;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
                break;
            }
            if header.to_ascii_lowercase().starts_with("connection:") && header.to_ascii_lowercase().contains("close") {
                keep_alive = false;
            }
        }
        let mut parts = request.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        if method != "GET" && method != "HEAD" {
            respond(&mut out, "405 Method Not Allowed", "text/plain", b"GET and HEAD only\n", method == "HEAD")?;
        } else {
            match resolve(root, target) {
                Some(path) => match std::fs::read(&path) {
                    Ok(body) => respond(&mut out, "200 OK", mime(&path), &body, method == "HEAD")?,
                    Err(_) => respond(&mut out, "404 Not Found", "text/plain", b"not found\n", method == "HEAD")?,
                },
                None => respond(&mut out, "404 Not Found", "text/plain", b"not found\n", method == "HEAD")?,
            }
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

/// The file a URL path names under `root`, or `None` for anything that would leave it.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let decoded = percent_decode(path)?;
    let mut out = root.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    // Symbolic links pointing outside the site are not followed.
    let real = out.canonicalize().ok()?;
    real.starts_with(root).then_some(real)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn respond(out: &mut TcpStream, status: &str, mime: &str, body: &[u8], head: bool) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\r\n",
        body.len()
    )?;
    if !head {
        out.write_all(body)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_the_root_only() {
        let root = std::env::temp_dir().join(format!("aurora-serve-{}", std::process::id()));
        std::fs::create_dir_all(root.join("bundle")).unwrap();
        std::fs::write(root.join("index.html"), "x").unwrap();
        std::fs::write(root.join("bundle/a b.json"), "{}").unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(resolve(&root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(&root, "/?backend=cpu"), Some(root.join("index.html")));
        assert_eq!(resolve(&root, "/bundle/a%20b.json"), Some(root.join("bundle/a b.json")));
        assert_eq!(resolve(&root, "/../etc/passwd"), None);
        assert_eq!(resolve(&root, "/bundle/%2e%2e/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(&root, "/missing"), None);
        assert_eq!(mime(Path::new("x.wasm")), "application/wasm");
    }
}
