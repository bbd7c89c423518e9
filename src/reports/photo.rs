//! A resident's photo: decoded, turned upright and encoded anew, so that nothing of the
//! original file — EXIF with the phone's position and make, comments, thumbnails — is kept.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use sha2::{Digest, Sha256};

use crate::store::Photo;

/// Longest side kept, in pixels: enough to see a lid or a lock, small enough to store.
const MAX_SIDE: u32 = 2560;

/// Why a photo was not taken.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("photo: {0}")]
pub struct PhotoError(pub String);

/// Re-encodes a JPEG or PNG of at most `max_bytes`: JPEG stays JPEG (quality 85), PNG stays PNG.
pub fn clean(bytes: &[u8], max_bytes: usize) -> Result<Photo, PhotoError> {
    if bytes.len() > max_bytes {
        return Err(PhotoError(format!(
            "{} bytes; at most {max_bytes} are taken",
            bytes.len()
        )));
    }
    let format =
        image::guess_format(bytes).map_err(|_| PhotoError("not a JPEG or PNG image".into()))?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(PhotoError(format!(
            "a {format:?} image; only JPEG and PNG are taken"
        )));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(512 << 20);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| PhotoError(format!("cannot be read: {e}")))?;
    // The EXIF orientation is applied before the EXIF goes, so the photo stays upright.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| PhotoError(format!("cannot be read: {e}")))?;
    img.apply_orientation(orientation);
    if img.width() > MAX_SIDE || img.height() > MAX_SIDE {
        img = img.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle);
    }
    let mut out = Vec::new();
    let mime = match format {
        ImageFormat::Png => {
            img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
                .map_err(|e| PhotoError(format!("cannot be encoded: {e}")))?;
            "image/png"
        }
        _ => {
            // JPEG has no alpha: drop it.
            let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
            rgb.write_with_encoder(enc)
                .map_err(|e| PhotoError(format!("cannot be encoded: {e}")))?;
            "image/jpeg"
        }
    };
    Ok(Photo {
        key: hex::encode(Sha256::digest(&out)),
        mime: mime.into(),
        bytes: out,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small JPEG carrying an EXIF block with a GPS tag and a camera make.
    pub(crate) fn jpeg_with_exif() -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 90]));
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 90)
            .encode_image(&img)
            .unwrap();
        // TIFF (little endian) with one IFD entry: Make = "SECRETPHONE", and the text of a
        // GPS position after it, where any copy of the block would carry it along.
        let mut tiff = b"II*\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&0x010Fu16.to_le_bytes()); // Make
        tiff.extend_from_slice(&2u16.to_le_bytes()); // ASCII
        tiff.extend_from_slice(&12u32.to_le_bytes());
        tiff.extend_from_slice(&26u32.to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(b"SECRETPHONE\0GPS 47.8388N 35.1396E");
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&plain[2..]);
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn exif_and_everything_else_of_the_file_is_gone() {
        let raw = jpeg_with_exif();
        assert!(contains(&raw, b"Exif") && contains(&raw, b"SECRETPHONE"));
        let p = clean(&raw, 5 << 20).unwrap();
        assert_eq!(p.mime, "image/jpeg");
        assert!(!contains(&p.bytes, b"Exif"));
        assert!(!contains(&p.bytes, b"SECRETPHONE"));
        assert!(!contains(&p.bytes, b"GPS"));
        let back = image::load_from_memory(&p.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (40, 30));
    }

    #[test]
    fn too_big_or_not_an_image_is_refused_with_the_reason() {
        let raw = jpeg_with_exif();
        assert!(clean(&raw, 100).unwrap_err().0.contains("at most 100"));
        assert!(
            clean(b"GIF89a not really", 1000)
                .unwrap_err()
                .0
                .contains("only JPEG and PNG")
        );
        assert!(clean(b"hello", 1000).unwrap_err().0.contains("not a JPEG"));
        let mut cut = raw.clone();
        cut.truncate(raw.len() / 2);
        assert!(
            clean(&cut, 5 << 20)
                .unwrap_err()
                .0
                .contains("cannot be read")
        );
    }
}
