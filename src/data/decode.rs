//! Decoding image bytes with limits, so a hostile or huge file is an error rather than an
//! out-of-memory abort, and with EXIF orientation applied so phone photos are upright.

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use std::io::Cursor;

/// Largest accepted side and decoded size. An all-sky frame is ~0.2 Mpx and a phone photo
/// ~50 Mpx; a 16k × 16k image would need 1 GiB decoded, which is refused.
pub const MAX_SIDE: u32 = 12_000;
pub const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not an image format this tool reads (PNG, JPEG, BMP, GIF, WebP, TIFF)")]
    UnknownFormat,
    #[error("image is {width}×{height} px, larger than the {MAX_SIDE} px limit")]
    TooLarge { width: u32, height: u32 },
    #[error("image is {width}×{height} px and would take {} MiB decoded, more than the {} MiB limit", needed >> 20, MAX_DECODED_BYTES >> 20)]
    TooMuchMemory { width: u32, height: u32, needed: u64 },
    #[error("image needs more memory to decode than the {limit} MiB limit ({0})", limit = MAX_DECODED_BYTES >> 20)]
    OverLimit(String),
    #[error("image is empty (0 px)")]
    Empty,
    #[error("corrupt or truncated image: {0}")]
    Corrupt(String),
}

pub fn decode(bytes: &[u8]) -> Result<DynamicImage, DecodeError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    if reader.format().is_none() {
        return Err(DecodeError::UnknownFormat);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    let mut reader = reader;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(map_err)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(DecodeError::Empty);
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(DecodeError::TooLarge { width, height });
    }
    // The decoders do not all honour `max_alloc`: the decoded size is checked here, before the
    // buffer is allocated (a 12k × 12k 16-bit RGBA PNG would need 1.1 GB).
    let needed = decoder.total_bytes();
    if needed > MAX_DECODED_BYTES {
        return Err(DecodeError::TooMuchMemory { width, height, needed });
    }
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_err)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

fn map_err(e: image::ImageError) -> DecodeError {
    match e {
        image::ImageError::Limits(l) => DecodeError::OverLimit(l.to_string()),
        image::ImageError::Unsupported(_) => DecodeError::UnknownFormat,
        other => DecodeError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([(x + y) as u8]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn decodes_and_rejects() {
        let bytes = png(8, 6);
        let img = decode(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (8, 6));
        assert!(matches!(decode(b"hello world, not an image"), Err(DecodeError::UnknownFormat)));
        assert!(matches!(decode(&bytes[..bytes.len() / 2]), Err(DecodeError::Corrupt(_))));
    }

    #[test]
    fn refuses_huge_dimensions_without_allocating() {
        // A valid PNG header claiming 60000 × 60000 px: refused from the header alone.
        let mut bytes = png(1, 1);
        bytes[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        let err = decode(&bytes).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. } | DecodeError::OverLimit(_) | DecodeError::Corrupt(_)), "{err}");
        assert!(!err.to_string().contains("0×0"), "{err}");
    }

    /// Within the side limit but over the memory limit: 11000 × 11000 16-bit RGBA is 968 MB.
    /// Refused from the header, with the real size in the message.
    #[test]
    fn refuses_images_that_decode_past_the_memory_limit() {
        let img = image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(1, 1, image::Rgba([1, 2, 3, 4]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgba16(img).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes[16..20].copy_from_slice(&11_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&11_000u32.to_be_bytes());
        // Fix the IHDR CRC so the header is valid and only the size is wrong.
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = decode(&bytes).unwrap_err();
        assert!(matches!(err, DecodeError::TooMuchMemory { width: 11_000, height: 11_000, .. } | DecodeError::OverLimit(_)), "{err}");
        assert!(!err.to_string().contains("0×0"), "{err}");
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
