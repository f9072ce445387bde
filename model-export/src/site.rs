//! `aurora-hash site`: a whole static web site from a trained run and a folder of images, for
//! publishing an archive on any static host, and `--single-file` for a classroom USB stick.
//!
//! ```text
//! SITE/index.html, *.js, *.css, *.wasm   the page, as trunk built it (plain names, revalidated)
//! SITE/sw.js                             service worker: caches the site on the first visit
//! SITE/**/NAME.br, NAME.gz               brotli and gzip copies of the large text and wasm
//!                                        files, for hosts that send precompressed files
//! SITE/bundle/manifest.json              the entry point (always revalidated): every file's
//!                                        size, SHA-256 and content-hashed path
//! SITE/bundle/model-<h>.bpk, bundle-<h>.json, archive-<h>.idx     cacheable forever
//! SITE/bundle/thumbs/<h>.jpg             one per image (aurora_hash::index::thumb_path)
//! SITE/images/<id>                       the originals, linked from results, never preloaded
//! ```
//!
//! All URLs are relative, so the folder works under any sub-path. The bundle and index are
//! built in the run's `site-cache/` and only new images are encoded on a rebuild; a file of the
//! site is written only when its content changed, and files no longer referenced are removed.

use anyhow::{Context, Result, bail};
use aurora_hash::export::{CONFIG_FILE, INDEX_FILE, MANIFEST_FILE, Manifest, WEIGHTS_FILE, sha256_hex};
use std::path::{Path, PathBuf};

use crate::bundle_cmd::{self, ExportArgs, IndexArgs, IndexCommand};
use crate::device::Choice;
use crate::out_folder::{OutFolder, check_replace};
use crate::precompress;
use crate::files::{BINARY_CAP, TEXT_CAP, read_capped};
use crate::run::write_atomic;

#[derive(clap::Args, Debug)]
pub struct SiteArgs {
    /// Folder of images. Sub-folders named after the run's classes give true labels; times are
    /// read from file names (YRS `NYYYYMMDDGHHMMSS`).
    #[arg(required_unless_present = "index")]
    pub images: Option<PathBuf>,
    /// Publish this prebuilt index instead of encoding images (e.g. shards merged with
    /// `index merge`, or `index random` for load tests): no thumbnails or originals then.
    #[arg(long, conflicts_with = "images")]
    pub index: Option<PathBuf>,
    /// Archives larger than this are published as shards of this many images, loaded one
    /// after another (search starts with the first), with ids fetched only for images shown.
    #[arg(long, default_value_t = 100_000)]
    pub shard_size: usize,
    /// Trained run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// Site folder to write (or update).
    #[arg(long, default_value = "site")]
    pub out: PathBuf,
    /// The page as `trunk build --release` writes it.
    #[arg(long, default_value = "dist")]
    pub web: PathBuf,
    /// Link results to the originals under this URL instead of copying them into images/.
    #[arg(long)]
    pub originals_url: Option<String>,
    /// Also write the whole site as one self-contained HTML file that runs from file://.
    #[arg(long)]
    pub single_file: Option<PathBuf>,
    /// Largest single file accepted, in MB (a browser opening a bigger file from a USB stick
    /// becomes unresponsive; publish a site instead).
    #[arg(long, default_value_t = 120.0)]
    pub max_single_mb: f64,
    /// How the bundle stores the weights (as `export --weights`): q8 (the default), f16 or f32.
    #[arg(long, value_enum, default_value = "q8", alias = "quant")]
    pub weights: crate::bundle_cmd::Weights,
    /// Write into a folder that holds files this tool did not write (files of the same names
    /// are replaced; nothing else is removed), or replace a --single-file it did not write.
    #[arg(long)]
    pub force: bool,
    /// Stop at the first image that cannot be read (default: report it by name and publish
    /// the rest).
    #[arg(long)]
    pub strict: bool,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Choice,
}

/// What one file of the site is made from.
enum Source {
    Bytes(Vec<u8>),
    /// An original image, copied unless a file of its size is already there.
    Original(PathBuf),
}

/// The largest original image copied into a site.
const MAX_ORIGINAL_BYTES: u64 = 1 << 30;

/// What marks a one-file site this tool wrote (its embedded files), so that `--single-file`
/// replaces only such a file.
const EMBED_MARK: &str = "<script id=\"aurora-files\"";

/// Up to this many images, the service worker caches every thumbnail on the first visit (about
/// 3 KB each for YRS frames); a larger archive caches them as they are shown.
const PRECACHE_THUMBS: usize = 20_000;

/// `model.bpk` → `model-<first 16 hex of its SHA-256>.bpk`.
fn hashed_name(name: &str, sha256: &str) -> String {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    format!("{stem}-{}.{ext}", &sha256[..16])
}

pub fn site(a: &SiteArgs) -> Result<()> {
    if !a.web.join("index.html").is_file() {
        bail!("{}: no index.html: build the page first with `trunk build --release`", a.web.display());
    }
    if let Some(images) = &a.images
        && !images.is_dir()
    {
        bail!("{}: not a folder of images", images.display());
    }
    // Refused before any work when the folder or file is not this tool's to write: a site
    // folder holds a list of what the last build wrote, and only those files are ever removed.
    // A folder an older version wrote (index.html, sw.js and bundle/manifest.json) is taken over.
    crate::out_folder::set_force(a.force);
    let mut out = OutFolder::open(&a.out, "site", |root| {
        root.join("sw.js").is_file() && root.join("index.html").is_file() && root.join("bundle").join(MANIFEST_FILE).is_file()
    })?;
    if let Some(path) = &a.single_file {
        check_replace(path, "a one-file site", 1 << 20, |head| String::from_utf8_lossy(head).contains(EMBED_MARK))?;
    }
    // 1. Bundle and index in the run's cache: only new images are encoded.
    let cache = a.run.join("site-cache");
    bundle_cmd::export(&ExportArgs { run: a.run.clone(), out: cache.clone(), weights: a.weights, force: a.force })?;
    let index = match (&a.images, &a.index) {
        (Some(images), _) => {
            bundle_cmd::index(&IndexCommand::Build(IndexArgs {
                images: images.clone(),
                bundle: cache.clone(),
                out: cache.join(INDEX_FILE),
                batch: a.batch,
                device: a.device,
                thumbs: true,
                strict: a.strict,
                force: a.force,
            }))?;
            // The cached index also holds images removed from the folder since the last build:
            // they leave the site (and their published copies are removed with it).
            let mut index = bundle_cmd::read_index(&cache.join(INDEX_FILE))?;
            let gone = index.retain(|e| images.join(&e.id).is_file());
            if gone > 0 {
                bundle_cmd::write_index(&cache.join(INDEX_FILE), &index)?;
                println!("{gone} images no longer in {}: left out of the site", images.display());
            }
            index
        }
        (None, Some(path)) => {
            let index = bundle_cmd::read_index(path)?;
            let config = aurora_hash::export::BundleConfig::parse(&read_capped(&cache.join(CONFIG_FILE), TEXT_CAP)?)?;
            config.check_index(&path.display().to_string(), &index)?;
            index
        }
        (None, None) => unreachable!("clap requires images or --index"),
    };

    // 2. Publish: page, bundle files under content-hashed names, thumbnails, originals. The
    // whole list is known (and recorded) before the first file is written.
    let mut files: Vec<(String, Source)> = Vec::new();
    let mut precache: Vec<String> = Vec::new();
    // The page's files carry no hash in their names: the service worker's cache is named after
    // their contents and the list of everything it caches.
    let mut cache_key = String::new();
    for file in list_files(&a.web)? {
        let rel = rel_url(&file, &a.web);
        let bytes = read_capped(&file, BINARY_CAP)?;
        cache_key.push_str(&format!("{rel} {}\n", sha256_hex(&bytes)));
        files.push((rel.clone(), Source::Bytes(bytes)));
        // A visitor needs one of the two network modules: the service worker keeps the
        // modules the page fetched instead of downloading both on the first visit.
        if !is_wasm_module(&rel) {
            precache.push(if rel == "index.html" { "./".into() } else { rel });
        }
    }
    let manifest_bytes = std::fs::read(cache.join(MANIFEST_FILE))?;
    let mut manifest = Manifest::parse(&manifest_bytes)?;
    // The files of the archive, as one index or as shards with their ids apart.
    let mut bundle_files: Vec<(String, Vec<u8>)> = vec![
        (WEIGHTS_FILE.into(), std::fs::read(cache.join(WEIGHTS_FILE))?),
        (CONFIG_FILE.into(), std::fs::read(cache.join(CONFIG_FILE))?),
    ];
    manifest.files.retain(|f| f.name == WEIGHTS_FILE || f.name == CONFIG_FILE);
    if index.len() > a.shard_size {
        for (i, (shard, ids)) in index.split(a.shard_size).into_iter().enumerate() {
            bundle_files.push((format!("shard-{i:04}.idx"), shard.to_bytes()));
            bundle_files.push((format!("ids-{i:04}.json"), serde_json::to_vec(&ids)?));
        }
    } else {
        bundle_files.push((INDEX_FILE.into(), index.to_bytes()));
    }
    for (name, bytes) in &bundle_files {
        manifest.set(name, bytes);
    }
    for entry in &mut manifest.files {
        let at = bundle_files.iter().position(|(n, _)| *n == entry.name).expect("listed above");
        let (_, bytes) = bundle_files.swap_remove(at);
        let path = hashed_name(&entry.name, &entry.sha256);
        files.push((format!("bundle/{path}"), Source::Bytes(bytes)));
        precache.push(format!("bundle/{path}"));
        entry.path = Some(path);
    }
    for e in index.entries.iter().filter(|_| a.images.is_some()) {
        let thumb = aurora_hash::index::thumb_path(&e.id);
        let bytes = std::fs::read(cache.join(&thumb)).with_context(|| format!("thumbnail of {} missing from {}", e.id, cache.display()))?;
        files.push((format!("bundle/{thumb}"), Source::Bytes(bytes)));
        if index.len() <= PRECACHE_THUMBS {
            precache.push(format!("bundle/{thumb}"));
        }
        if let (None, Some(images)) = (&a.originals_url, &a.images) {
            files.push((format!("images/{}", e.id), Source::Original(images.join(&e.id))));
        }
    }
    manifest.originals = match (&a.originals_url, &a.images) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(_)) => Some("../images/".into()),
        (None, None) => None,
    };
    files.push((format!("bundle/{MANIFEST_FILE}"), Source::Bytes(serde_json::to_vec_pretty(&manifest)?)));
    precache.push(format!("bundle/{MANIFEST_FILE}"));
    cache_key.push_str(&serde_json::to_string(&precache)?);
    let version = sha256_hex(cache_key.as_bytes());
    files.push(("sw.js".into(), Source::Bytes(service_worker(&precache, &version[..16]).into_bytes())));
    // Large text and wasm files get brotli and gzip copies beside them (made again only when
    // the file changed), for hosts and `serve` to send to browsers that accept them.
    let compressed = |name: &str, source: &Source| matches!(source, Source::Bytes(b) if precompress::worth_compressing(name, b.len()));
    let mut names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
    names.extend(files.iter().filter(|(n, s)| compressed(n, s)).flat_map(|(n, _)| [format!("{n}.br"), format!("{n}.gz")]));
    out.plan(names)?;
    for (name, source) in files {
        match source {
            Source::Bytes(bytes) => {
                let changed = out.put(&name, &bytes)?;
                if precompress::worth_compressing(&name, bytes.len()) {
                    let (br, gz) = (format!("{name}.br"), format!("{name}.gz"));
                    if changed || !out.has(&br) {
                        if bytes.len() > 4 << 20 {
                            // Maximum brotli on the wasm takes a minute or two on a small machine.
                            eprintln!("compressing {name} ({:.1} MB) for transfer…", bytes.len() as f64 / 1e6);
                        }
                        out.put(&br, &precompress::brotli(&name, &bytes))?;
                    } else {
                        out.unchanged += 1;
                    }
                    if changed || !out.has(&gz) {
                        out.put(&gz, &precompress::gzip(&bytes))?;
                    } else {
                        out.unchanged += 1;
                    }
                }
            }
            // Originals can be large: compared by size, not read, when already published.
            Source::Original(path) => out.put_copy(&name, &path, MAX_ORIGINAL_BYTES)?,
        }
    }
    let (written, unchanged) = (out.written, out.unchanged);
    let removed = out.finish()?;
    println!("site {}: {} images; {written} files written, {unchanged} unchanged, {removed} removed", a.out.display(), index.len());
    if let Some(path) = &a.single_file {
        single_file(a, &index, &cache, path)?;
    }
    Ok(())
}

/// Every file below `dir`, sorted. Symlinks are followed; a loop is an error naming it.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if !entry.file_type().is_dir() {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}

fn rel_url(path: &Path, root: &Path) -> String {
    path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/")
}

/// One of the page's wasm modules (`web/gpu`, `web/cpu`, `web/search`) or its script, as trunk
/// names them.
fn is_wasm_module(rel: &str) -> bool {
    rel.strip_prefix("aurora-hash-web-").is_some_and(|rest| !rest.contains('/') && (rest.ends_with("_bg.wasm") || rest.ends_with(".js")))
}

/// The service worker: precaches every file of this build on the first visit (but the wasm
/// modules, of which it keeps those the page fetches) and answers from the cache when the
/// network is gone. Its cache name is `version`, derived from the page's contents and the file
/// list, so a rebuild that changes either installs a new cache and drops the old one. The manifest is fetched network-first,
/// so a visitor online always sees the latest archive.
fn service_worker(files: &[String], version: &str) -> String {
    let list = serde_json::to_string(files).expect("strings");
    format!(
        r#"// Generated by `aurora-hash site`: offline copy of this site.
const CACHE = "aurora-hash-{version}";
const FILES = {list};
self.addEventListener("install", (e) => {{
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
}});
self.addEventListener("activate", (e) => {{
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("aurora-hash-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
}});
self.addEventListener("fetch", (e) => {{
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin) return;
  if (url.pathname.endsWith("/manifest.json")) {{
    e.respondWith(fetch(e.request).then((r) => {{
      const copy = r.clone();
      caches.open(CACHE).then((c) => c.put(e.request, copy));
      return r;
    }}).catch(() => caches.match(e.request)));
    return;
  }}
  // The wasm modules the page chose are kept on their first fetch (the other backend's is never
  // fetched).
  const keep = /\/aurora-hash-web-[a-z]+(_bg\.wasm|\.js)$/.test(url.pathname);
  e.respondWith(caches.match(e.request, {{ ignoreSearch: true }}).then((hit) => hit || fetch(e.request).then((r) => {{
    if (keep && r.ok) {{
      const copy = r.clone();
      e.waitUntil(caches.open(CACHE).then((c) => c.put(e.request, copy)));
    }}
    return r;
  }})));
}});
"#
    )
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One HTML file holding the page, the wasm, the bundle, the index and the thumbnails, for
/// opening from a USB stick with file:// (where a page cannot fetch its sibling files).
fn single_file(a: &SiteArgs, index: &aurora_hash::index::CodeIndex, cache: &Path, path: &Path) -> Result<()> {
    let html = crate::files::read_text(&a.web.join("index.html")).context("reading the page")?;
    let files = list_files(&a.web)?;
    // trunk names its outputs `<stem>.<ext>` (Trunk.toml: filehash = false).
    let by_prefix = |prefix: &str, suffix: &str| -> Result<Vec<u8>> {
        let p = files
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix) && n.to_string_lossy().ends_with(suffix)))
            .with_context(|| format!("{}: no {prefix}*{suffix}: not the page trunk builds from index.html", a.web.display()))?;
        crate::files::read_capped(p, crate::files::BINARY_CAP)
    };
    // The WebGPU module, which carries the CPU path too, and the search's (app.js loads both
    // from AURORA_FILES).
    let modules = ["aurora-hash-web-gpu", "aurora-hash-web-search"]
        .into_iter()
        .map(|m| Ok((m, by_prefix(m, ".js")?, by_prefix(m, "_bg.wasm")?)))
        .collect::<Result<Vec<_>>>()?;
    let app = String::from_utf8(by_prefix("app", ".js")?)?;
    let css = String::from_utf8(by_prefix("style", ".css")?)?;

    // Everything the page would fetch, by the URL it would fetch it at.
    let mut embedded = serde_json::Map::new();
    let mut put = |url: String, bytes: &[u8]| {
        embedded.insert(url, serde_json::Value::String(base64(bytes)));
    };
    let index_bytes = index.to_bytes();
    let manifest = {
        let mut m = Manifest::parse(&crate::files::read_capped(&cache.join(MANIFEST_FILE), crate::files::TEXT_CAP)?)?;
        m.set(INDEX_FILE, &index_bytes);
        serde_json::to_vec(&m)?
    };
    put("worker.js".into(), &by_prefix("worker", ".js")?);
    for (name, glue, wasm) in &modules {
        put(format!("{name}.js"), glue);
        put(format!("{name}_bg.wasm"), wasm);
    }
    put(format!("bundle/{MANIFEST_FILE}"), &manifest);
    put(format!("bundle/{INDEX_FILE}"), &index_bytes);
    for name in [CONFIG_FILE, WEIGHTS_FILE] {
        put(format!("bundle/{name}"), &std::fs::read(cache.join(name)).with_context(|| format!("cannot read {}", cache.join(name).display()))?);
    }
    for e in index.entries.iter().filter(|_| a.images.is_some()) {
        let thumb = aurora_hash::index::thumb_path(&e.id);
        put(format!("bundle/{thumb}"), &std::fs::read(cache.join(&thumb))?);
    }
    let data = serde_json::to_string(&embedded)?.replace("</", "<\\/");
    let size = data.len() + app.len() + css.len() + html.len();
    let mb = size as f64 / 1e6;
    if mb > a.max_single_mb {
        bail!(
            "{}: would be {mb:.0} MB, over the {:.0} MB limit for one file (the archive has {} images): publish a site folder instead, or index fewer images",
            path.display(),
            a.max_single_mb,
            index.len()
        );
    }
    // The page's head and body without its style and script links, which are inlined.
    let head_end = html.find("</head>").context("the page has no </head>")?;
    let body_start = html.find("<body>").context("the page has no <body>")?;
    // file:// has no origin of its own: the page's policy ('self') becomes one that allows the
    // inlined code and data: URLs only.
    const CSP: &str = "<meta http-equiv=\"Content-Security-Policy\"";
    let mut head = without_links(&html[..head_end]);
    if let Some(start) = head.find(CSP) {
        let end = start + head[start..].find('>').context("the page's policy tag is not closed")? + 1;
        head.replace_range(start..end, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline' 'wasm-unsafe-eval' data:; style-src 'unsafe-inline'; img-src blob: data:; connect-src data:; form-action 'none'\">");
    }
    let loader = format!(
        r#"<script id="aurora-files" type="application/json">{data}</script>
<script>window.AURORA_FILES = JSON.parse(document.getElementById("aurora-files").textContent);</script>
<style>{css}</style>
<script>{app}</script>
</head>
"#,
        app = app.replace("</script", "<\\/script"),
    );
    let out = format!("{head}{loader}{}", &html[body_start..]);
    write_atomic(path, out.as_bytes())?;
    println!("wrote {} ({:.1} MB, {} images): open it in a browser, no server needed", path.display(), out.len() as f64 / 1e6, index.len());
    Ok(())
}

/// `head` without the tags that load files (`<script src>`, stylesheet and preload links): a
/// single file carries them inline, and from file:// they would only fail.
fn without_links(head: &str) -> String {
    let mut out = String::with_capacity(head.len());
    let mut rest = head;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..=end];
        let loads = (tag.starts_with("<script") && tag.contains(" src=")) || (tag.starts_with("<link") && (tag.contains("stylesheet") || tag.contains("preload")));
        if !loads {
            out.push_str(tag);
            rest = &rest[end + 1..];
        } else if tag.starts_with("<script") {
            rest = rest.find("</script>").map_or("", |close| &rest[close + "</script>".len()..]);
        } else {
            rest = &rest[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_file_head_loses_only_its_file_links() {
        let head = "<head>\n<meta charset=\"utf-8\">\n<link rel=\"stylesheet\" href=\"style-1.css\"/>\n<script src=\"./app-2.js\" integrity=\"x\"></script>\n<link rel=\"modulepreload\" href=\"a.js\">\n<title>t</title>\n<script>inline()</script>\n";
        assert_eq!(without_links(head), "<head>\n<meta charset=\"utf-8\">\n\n\n\n<title>t</title>\n<script>inline()</script>\n");
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(hashed_name("model.bpk", "0123456789abcdef0123"), "model-0123456789abcdef.bpk");
    }
}
