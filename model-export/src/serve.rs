//! `aurora-hash serve`: a static file server for a built site on this machine, so the demo page
//! (and the browser tests) need nothing but the tool itself.
//!
//! Deliberately small: GET and HEAD of files under one folder, on the loopback interface by
//! default, with the MIME types a wasm page needs (`application/wasm` lets the browser compile
//! while downloading), ETags and 304s (a reload downloads nothing again), one byte range, and
//! the brotli / gzip copies `site` writes beside large files. Not meant to face the internet:
//! publish a site on any static host.

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
        let bytes = crate::files::read_capped(path, crate::files::BINARY_CAP)?;
        crate::run::write_atomic(&target, &bytes)?;
    }
    let copied = files.len();
    Ok(copied)
}

/// What a request asked for, from its headers.
#[derive(Default)]
struct Request {
    keep_alive: bool,
    accept_br: bool,
    accept_gzip: bool,
    if_none_match: Option<String>,
    range: Option<String>,
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
        let mut req = Request { keep_alive: true, ..Request::default() };
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
                break;
            }
            let Some((name, value)) = header.split_once(':') else { continue };
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "connection" if value.to_ascii_lowercase().contains("close") => req.keep_alive = false,
                "accept-encoding" => {
                    let accepts = |coding: &str| value.split(',').any(|c| {
                        let mut parts = c.split(';');
                        let name = parts.next().unwrap_or("").trim();
                        // `gzip;q=0` refuses the coding.
                        name.eq_ignore_ascii_case(coding) && !parts.any(|p| p.trim().replace(' ', "") == "q=0")
                    });
                    req.accept_br = accepts("br");
                    req.accept_gzip = accepts("gzip");
                }
                "if-none-match" => req.if_none_match = Some(value.to_string()),
                "range" => req.range = Some(value.to_string()),
                _ => {}
            }
        }
        let mut parts = request.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let head = method == "HEAD";
        if method != "GET" && !head {
            respond(&mut out, "405 Method Not Allowed", "text/plain", &[], b"GET and HEAD only\n", head)?;
        } else {
            match resolve(root, target) {
                Some(path) => send_file(&mut out, &path, &req, head)?,
                None => respond(&mut out, "404 Not Found", "text/plain", &[], b"not found\n", head)?,
            }
        }
        if !req.keep_alive {
            return Ok(());
        }
    }
}

/// A strong validator from the file's size and modification time: changes whenever the file
/// does, costs no read. The coding is part of it, since the bytes differ.
fn etag(meta: &std::fs::Metadata, coding: &str) -> String {
    let nanos = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    format!("\"{:x}-{nanos:x}{coding}\"", meta.len())
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` (one range) against a file of `len` bytes: the
/// inclusive byte range, `Err` when it cannot be satisfied, `None` when the header is not
/// one range of bytes (then the whole file is sent, as RFC 9110 allows).
fn parse_range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let range = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 || len == 0 {
                return Some(Err(()));
            }
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (a.parse().ok()?, len.saturating_sub(1)),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(len.saturating_sub(1))),
    };
    Some(if range.0 > range.1 || range.0 >= len { Err(()) } else { Ok(range) })
}

/// Sends a file: a precompressed `.br` or `.gz` copy beside it when the browser accepts it
/// and the copy is not older than the file, 304 when the browser's copy is current, and one
/// byte range of the plain file when asked.
fn send_file(out: &mut TcpStream, path: &Path, req: &Request, head: bool) -> std::io::Result<()> {
    let Ok(meta) = std::fs::metadata(path).and_then(|m| if m.is_file() { Ok(m) } else { Err(std::io::ErrorKind::InvalidInput.into()) }) else {
        return respond(out, "404 Not Found", "text/plain", &[], b"not found\n", head);
    };
    let fresh = |ext: &str| -> Option<(PathBuf, std::fs::Metadata)> {
        let p = PathBuf::from(format!("{}.{ext}", path.display()));
        let m = std::fs::metadata(&p).ok().filter(|m| m.is_file())?;
        (m.modified().ok()? >= meta.modified().ok()?).then_some((p, m))
    };
    // Ranges are served from the plain file only: a range of compressed bytes means nothing
    // to a client that asked for a part of the file.
    let variant = if req.range.is_some() {
        None
    } else if let Some(v) = req.accept_br.then(|| fresh("br")).flatten() {
        Some((v, "br"))
    } else {
        req.accept_gzip.then(|| fresh("gz")).flatten().map(|v| (v, "gzip"))
    };
    let (file, file_meta, coding) = match &variant {
        Some(((p, m), c)) => (p.as_path(), m, *c),
        None => (path, &meta, ""),
    };
    let suffix = if coding.is_empty() { String::new() } else { format!("-{coding}") };
    let tag = etag(file_meta, &suffix);
    let mut headers = vec![format!("ETag: {tag}"), "Vary: Accept-Encoding".to_string(), "Accept-Ranges: bytes".to_string()];
    if !coding.is_empty() {
        headers.push(format!("Content-Encoding: {coding}"));
    }
    if req.if_none_match.as_deref().is_some_and(|v| v == "*" || v.split(',').any(|t| t.trim().trim_start_matches("W/") == tag)) {
        return respond(out, "304 Not Modified", mime(path), &headers, b"", true);
    }
    let len = file_meta.len();
    let (status, start, end) = match req.range.as_deref().and_then(|r| parse_range(r, len)) {
        Some(Ok((a, b))) => {
            headers.push(format!("Content-Range: bytes {a}-{b}/{len}"));
            ("206 Partial Content", a, b + 1)
        }
        Some(Err(())) => {
            headers.push(format!("Content-Range: bytes */{len}"));
            return respond(out, "416 Range Not Satisfiable", "text/plain", &headers, b"", head);
        }
        None => ("200 OK", 0, len),
    };
    write_head(out, status, mime(path), &headers, end - start)?;
    if !head {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(file)?;
        f.seek(SeekFrom::Start(start))?;
        std::io::copy(&mut f.take(end - start), out)?;
    }
    out.flush()
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

fn write_head(out: &mut TcpStream, status: &str, mime: &str, headers: &[String], len: u64) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {len}\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())
}

fn respond(out: &mut TcpStream, status: &str, mime: &str, headers: &[String], body: &[u8], head: bool) -> std::io::Result<()> {
    // A 304 has no body and no length of its own.
    write_head(out, status, mime, headers, if status.starts_with("304") { 0 } else { body.len() as u64 })?;
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

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-500", 100), Some(Ok((0, 99))));
        assert_eq!(parse_range("bytes=50-1000", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=9-3", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    /// One request through a real socket; returns the status line, the headers (lowercase
    /// names) and the body.
    fn exchange(root: &Path, request: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
        use std::io::Read;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let root = root.to_path_buf();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            handle(stream, &root).unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        c.read_to_end(&mut raw).unwrap();
        server.join().unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().to_string();
        let headers = lines.filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect();
        (status, headers, raw[split + 4..].to_vec())
    }

    fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn precompressed_copies_validators_and_ranges() {
        let root = std::env::temp_dir().join(format!("aurora-serve-http-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let body: Vec<u8> = (0..5000u32).flat_map(|i| format!("{i},").into_bytes()).collect();
        std::fs::write(root.join("index.html"), "x").unwrap();
        std::fs::write(root.join("app.wasm"), &body).unwrap();
        std::fs::write(root.join("app.wasm.br"), crate::precompress::brotli("app.wasm", &body)).unwrap();
        std::fs::write(root.join("app.wasm.gz"), crate::precompress::gzip(&body)).unwrap();
        let root = root.canonicalize().unwrap();
        let get = |extra: &str| exchange(&root, &format!("GET /app.wasm HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"));

        let (status, h, plain) = get("");
        assert!(status.contains("200"), "{status}");
        assert_eq!(plain, body);
        assert_eq!(header(&h, "content-encoding"), None);
        let tag = header(&h, "etag").unwrap().to_string();

        let (status, h, br) = get("Accept-Encoding: gzip, deflate, br\r\n");
        assert!(status.contains("200"));
        assert_eq!(header(&h, "content-encoding"), Some("br"));
        assert_eq!(br, std::fs::read(root.join("app.wasm.br")).unwrap());
        assert_eq!(header(&h, "vary"), Some("Accept-Encoding"));
        let br_tag = header(&h, "etag").unwrap().to_string();
        assert_ne!(br_tag, tag, "each coding has its own validator");

        let (_, h, gz) = get("Accept-Encoding: gzip, br;q=0\r\n");
        assert_eq!(header(&h, "content-encoding"), Some("gzip"));
        assert_eq!(gz, std::fs::read(root.join("app.wasm.gz")).unwrap());

        // A reload with the validator: 304, nothing sent again.
        let (status, _, nothing) = get(&format!("Accept-Encoding: br\r\nIf-None-Match: {br_tag}\r\n"));
        assert!(status.contains("304"), "{status}");
        assert!(nothing.is_empty());
        let (status, _, _) = get(&format!("If-None-Match: {br_tag}\r\n"));
        assert!(status.contains("200"), "the plain file's validator differs: {status}");

        // One range of the plain file, even when compression is accepted.
        let (status, h, part) = get("Accept-Encoding: br\r\nRange: bytes=10-19\r\n");
        assert!(status.contains("206"), "{status}");
        assert_eq!(part, &body[10..20]);
        assert_eq!(header(&h, "content-range"), Some(format!("bytes 10-19/{}", body.len()).as_str()));
        assert_eq!(header(&h, "content-encoding"), None);
        let (status, _, _) = get("Range: bytes=999999-\r\n");
        assert!(status.contains("416"), "{status}");

        // A compressed copy older than its file is stale and not sent.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("app.wasm"), b"new contents").unwrap();
        let (_, h, fresh) = get("Accept-Encoding: br, gzip\r\n");
        assert_eq!(header(&h, "content-encoding"), None);
        assert_eq!(fresh, b"new contents");
        let _ = std::fs::remove_dir_all(&root);
    }
}
