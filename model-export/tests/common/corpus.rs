//! The corpus of damaged, hostile and unusual images, made by code (nothing binary is
//! committed): the native tool's commands (`bad_input.rs`) and the page's engine
//! (`browser.rs`) are run over the same cases.

use std::io::Cursor;

pub fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

pub fn sky(w: u32, h: u32) -> image::DynamicImage {
    image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 5 + y * 3) % 251) as u8])))
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// A PNG whose header claims `w` × `h`, with the header's CRC made valid again: a
/// decompression bomb as a real file would be (the image data stays tiny).
fn png_claiming(base: image::DynamicImage, w: u32, h: u32) -> Vec<u8> {
    let mut b = encode(base, image::ImageFormat::Png);
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&b[12..29]);
    b[29..33].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A JPEG with an EXIF block whose orientation is `value` (valid: 1–8).
fn jpeg_with_orientation(value: u16) -> Vec<u8> {
    let jpeg = encode(image::DynamicImage::ImageRgb8(sky(40, 30).to_rgb8()), image::ImageFormat::Jpeg);
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&value.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn animated_gif() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut out);
        let frames = (0..3).map(|i| image::Frame::new(image::RgbaImage::from_pixel(24, 24, image::Rgba([i * 80, 40, 200, 255]))));
        enc.encode_frames(frames).unwrap();
    }
    out
}

/// Baseline and progressive JPEG of the same frame, grey, RGB and CMYK (what a scanner or a
/// print workflow writes): the `image` encoder writes only baseline RGB.
fn jpeg_encoded(progressive: bool, color: jpeg_encoder::ColorType) -> Vec<u8> {
    let (w, h) = (48u16, 40u16);
    let channels = match color {
        jpeg_encoder::ColorType::Luma => 1,
        jpeg_encoder::ColorType::Rgb => 3,
        _ => 4,
    };
    let data: Vec<u8> = (0..w as usize * h as usize * channels).map(|i| ((i * 7) % 251) as u8).collect();
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 85);
    enc.set_progressive(progressive);
    enc.encode(&data, w, h, color).unwrap();
    out
}

/// A TIFF with several pages (a scanner's or a microscope's stack): the reader takes the first.
fn multi_page_tiff(cmyk_first: bool) -> Vec<u8> {
    use tiff::encoder::{colortype, TiffEncoder};
    let mut out = Cursor::new(Vec::new());
    {
        let mut enc = TiffEncoder::new(&mut out).unwrap();
        if cmyk_first {
            let cmyk: Vec<u8> = (0..30 * 20 * 4).map(|i| (i % 200) as u8).collect();
            enc.write_image::<colortype::CMYK8>(30, 20, &cmyk).unwrap();
        }
        let grey: Vec<u8> = (0..30 * 20).map(|i| (i % 251) as u8).collect();
        enc.write_image::<colortype::Gray8>(30, 20, &grey).unwrap();
        let rgb: Vec<u8> = (0..64 * 16 * 3).map(|i| (i % 97) as u8).collect();
        enc.write_image::<colortype::RGB8>(64, 16, &rgb).unwrap();
    }
    out.into_inner()
}

/// One case of the corpus: a file name and its bytes, and whether a careful reader should
/// accept it (a valid but unusual image) or refuse it (damaged or hostile).
pub struct Case {
    pub name: String,
    pub bytes: Vec<u8>,
    pub valid: bool,
}

pub fn corpus() -> Vec<Case> {
    let png = encode(sky(64, 48), image::ImageFormat::Png);
    let jpeg = encode(image::DynamicImage::ImageRgb8(sky(64, 48).to_rgb8()), image::ImageFormat::Jpeg);
    let mut cases = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>, valid: bool| cases.push(Case { name: name.into(), bytes, valid });
    add("empty.png", Vec::new(), false);
    add("empty.jpg", Vec::new(), false);
    for (k, cut) in [8usize, 33, 60, png.len() / 2, png.len() - 13].into_iter().enumerate() {
        add(&format!("truncated-{k}.png"), png[..cut].to_vec(), false);
    }
    for (k, cut) in [2usize, 20, jpeg.len() / 3].into_iter().enumerate() {
        add(&format!("truncated-{k}.jpg"), jpeg[..cut].to_vec(), false);
    }
    let mut crc = png.clone();
    let at = crc.len() - 20;
    crc[at] ^= 0x55;
    add("crc-damaged.png", crc, false);
    let mut header = png.clone();
    header[12] = b'X';
    add("bad-chunk-name.png", header, false);
    let mut j = jpeg.clone();
    let mid = j.len() / 2;
    for b in &mut j[mid..mid + 64] {
        *b = 0xFF;
    }
    add("damaged-scan.jpg", j, false);
    add("bomb-60000px.png", png_claiming(sky(1, 1), 60_000, 60_000), false);
    add("bomb-11000px-rgba16.png", png_claiming(image::DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(1, 1, image::Rgba([1u16, 2, 3, 4]))), 11_000, 11_000), false);
    add("bomb-zero-width.png", png_claiming(sky(1, 1), 0, 100), false);
    add("16-bit-grey.png", encode(image::DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(50, 40, |x, y| image::Luma([(x * 900 + y * 300) as u16]))), image::ImageFormat::Png), true);
    add("grey-alpha.png", encode(image::DynamicImage::ImageLumaA8(image::ImageBuffer::from_fn(50, 40, |x, _| image::LumaA([x as u8 * 4, 128]))), image::ImageFormat::Png), true);
    add("rgba16.png", encode(image::DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(30, 30, image::Rgba([9000u16, 100, 40000, 65535]))), image::ImageFormat::Png), true);
    add("palette.gif", encode(image::DynamicImage::ImageRgba8(sky(40, 40).to_rgba8()), image::ImageFormat::Gif), true);
    add("animated.gif", animated_gif(), true);
    add("float.tiff", encode(image::DynamicImage::ImageRgb32F(image::ImageBuffer::from_pixel(20, 20, image::Rgb([0.2f32, 0.5, 0.9]))), image::ImageFormat::Tiff), true);
    add("grey.tif", encode(sky(33, 17), image::ImageFormat::Tiff), true);
    add("multi-page.tif", multi_page_tiff(false), true);
    add("cmyk-multi-page.tif", multi_page_tiff(true), true);
    let multi = multi_page_tiff(false);
    // Cut inside the first page's pixels, before any page's directory (the encoder writes each
    // page's data, then its directory): nothing left to read.
    add("truncated-multi-page.tif", multi[..300].to_vec(), false);
    add("progressive-grey.jpg", jpeg_encoded(true, jpeg_encoder::ColorType::Luma), true);
    add("progressive-rgb.jpg", jpeg_encoded(true, jpeg_encoder::ColorType::Rgb), true);
    add("cmyk.jpg", jpeg_encoded(false, jpeg_encoder::ColorType::Cmyk), true);
    add("ycck.jpg", jpeg_encoded(false, jpeg_encoder::ColorType::CmykAsYcck), true);
    add("bitmap.bmp", encode(image::DynamicImage::ImageRgb8(sky(21, 13).to_rgb8()), image::ImageFormat::Bmp), true);
    let bmp = encode(image::DynamicImage::ImageRgb8(sky(21, 13).to_rgb8()), image::ImageFormat::Bmp);
    add("truncated.bmp", bmp[..bmp.len() / 2].to_vec(), false);
    add("riff-garbage.webp", b"RIFF\x10\0\0\0WEBPVP8 \x04\0\0\0abcd".to_vec(), false);
    add("text.png", b"just some notes, not an image\n".to_vec(), false);
    add("page.jpg", b"<!doctype html><html><body>hello</body></html>".to_vec(), false);
    add("one-pixel.png", encode(sky(1, 1), image::ImageFormat::Png), true);
    add("tall-1x5000.png", encode(sky(1, 5000), image::ImageFormat::Png), true);
    add("wide-5000x1.png", encode(sky(5000, 1), image::ImageFormat::Png), true);
    add("exif-orientation-9.jpg", jpeg_with_orientation(9), true);
    add("exif-orientation-0.jpg", jpeg_with_orientation(0), true);
    add("exif-orientation-6.jpg", jpeg_with_orientation(6), true);
    add(&format!("{}.png", "n".repeat(240)), png.clone(), true);
    add("name with spaces, commas and \u{e9}.png", png.clone(), true);
    add("escape-\u{1b}[31mred.png", png.clone(), true);
    cases
}

/// Files a careful reader may answer or refuse; either way cleanly, naming the file on refusal,
/// never with a panic:
/// * a progressive CMYK JPEG, valid (Pillow/libjpeg decode it: seen when this case was added),
///   refused by zune-jpeg 0.5.15, `image`'s JPEG decoder ("Invalid slice, would panic");
/// * a progressive JPEG cut in half: its first scans are whole, and decoders show the coarse
///   picture they give, as browsers do while such a file downloads.
pub fn either_way() -> Vec<Case> {
    let progressive = jpeg_encoded(true, jpeg_encoder::ColorType::Rgb);
    vec![
        Case { name: "progressive-cmyk.jpg".into(), bytes: jpeg_encoded(true, jpeg_encoder::ColorType::Cmyk), valid: true },
        Case { name: "truncated-progressive.jpg".into(), bytes: progressive[..progressive.len() / 2].to_vec(), valid: false },
    ]
}
