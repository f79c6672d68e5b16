//! Rendering the memory-map SVG in a real browser: headless Chromium takes a screenshot at the
//! picture's own size, and the PNG is decoded and checked (size, colours, ink where the map and
//! the labels are drawn), so a picture that a browser shows blank or broken fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::memmap_svg::Layout;

/// How long one screenshot may take before Chromium is stopped.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A fresh profile directory per run, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("memfw-chromium-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Screenshots `svg` into `png` at `width` x `height` with headless Chromium (installed with
/// apt-get when missing). Returns how long it took.
pub fn screenshot(svg: &Path, png: &Path, width: u32, height: u32) -> Result<Duration> {
    crate::setup::ensure_chromium()?;
    let svg = std::fs::canonicalize(svg).with_context(|| format!("{} not found", svg.display()))?;
    let profile = TempDir::new()?;
    let _ = std::fs::remove_file(png);
    let t = Instant::now();
    let mut child = Command::new(crate::setup::CHROMIUM[0].path)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("file://{}", svg.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting chromium")?;
    let status = loop {
        if let Some(s) = child.try_wait().context("waiting for chromium")? {
            break s;
        }
        if t.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("chromium did not finish the screenshot of {} within {} s", svg.display(), TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().context("reading chromium's output")?;
    if !status.success() || !png.is_file() {
        bail!(
            "chromium ({status}) wrote no screenshot {}:\n{}{}",
            png.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(t.elapsed())
}

/// A decoded screenshot, RGB.
pub struct Image {
    pub width: u32,
    pub height: u32,
    rgb: Vec<u8>,
}

impl Image {
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().with_context(|| format!("{} is not a PNG", path.display()))?;
        let mut buf = vec![0; reader.output_buffer_size().context("PNG too large")?];
        let info = reader.next_frame(&mut buf).with_context(|| format!("decoding {}", path.display()))?;
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Indexed => bail!("{}: indexed colour left after expansion", path.display()),
        };
        let mut rgb = Vec::with_capacity(info.width as usize * info.height as usize * 3);
        for px in buf[..info.buffer_size()].chunks_exact(channels) {
            match channels {
                1 | 2 => rgb.extend([px[0]; 3]),
                _ => rgb.extend(&px[..3]),
            }
        }
        Ok(Self { width: info.width, height: info.height, rgb })
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Share of pixels in `(x, y, w, h)` (clipped to the image) that are not near-white.
    pub fn ink(&self, area: (f64, f64, f64, f64)) -> f64 {
        let (x0, y0) = (area.0.max(0.0) as u32, area.1.max(0.0) as u32);
        let x1 = ((area.0 + area.2) as u32).min(self.width);
        let y1 = ((area.1 + area.3) as u32).min(self.height);
        let (mut ink, mut all) = (0u64, 0u64);
        for y in y0..y1 {
            for x in x0..x1 {
                all += 1;
                if self.pixel(x, y).iter().any(|&c| c < 250) {
                    ink += 1;
                }
            }
        }
        if all == 0 { 0.0 } else { ink as f64 / all as f64 }
    }

    pub fn distinct_colors(&self) -> usize {
        let mut seen: Vec<[u8; 3]> = self.rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// Whether some pixel has this colour (each channel within 4).
    pub fn has_color(&self, rgb: [u8; 3]) -> bool {
        self.rgb.chunks_exact(3).any(|p| p.iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) <= 4))
    }
}

fn parse_color(hex: &str) -> Option<[u8; 3]> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

/// Checks a screenshot of `layout`: its size, many colours, every solid fill the layout drew,
/// the map column inked nearly everywhere and the label column carrying text. Returns a
/// one-line summary.
pub fn check(layout: &Layout, png: &Path) -> Result<String> {
    let img = Image::read(png)?;
    let (w, h) = (layout.width as u32, layout.height as u32);
    if (img.width, img.height) != (w, h) {
        bail!("{}: {}x{} pixels, expected the picture's {w}x{h}", png.display(), img.width, img.height);
    }
    let distinct = img.distinct_colors();
    if distinct < 16 {
        bail!("{}: only {distinct} distinct colours: the browser drew (almost) nothing", png.display());
    }
    let missing: Vec<String> = layout.solid_colors().into_iter().filter(|c| parse_color(c).is_some_and(|rgb| !img.has_color(rgb))).collect();
    if !missing.is_empty() {
        bail!("{}: colours the picture fills with are not on screen: {}", png.display(), missing.join(", "));
    }
    let map_ink = img.ink(layout.map_area);
    if map_ink < 0.95 {
        bail!("{}: the map column is only {:.0}% drawn", png.display(), map_ink * 100.0);
    }
    let label_ink = img.ink(layout.label_area);
    if label_ink < 0.01 {
        bail!("{}: no text in the label column ({:.2}% ink)", png.display(), label_ink * 100.0);
    }
    let corner = img.pixel(w - 1, h - 1);
    if corner.iter().any(|&c| c < 250) {
        bail!("{}: the background is not white ({corner:?})", png.display());
    }
    Ok(format!(
        "{w}x{h} px, {distinct} colours, all {} fills present, map column {:.0}% and labels {:.1}% inked",
        layout.solid_colors().len(),
        map_ink * 100.0,
        label_ink * 100.0
    ))
}

/// Screenshots and checks an SVG written from `layout`; the summary and the time it took.
pub fn render_and_check(layout: &Layout, svg: &Path, png: &Path) -> Result<String> {
    let took = screenshot(svg, png, layout.width as u32, layout.height as u32)?;
    let summary = check(layout, png)?;
    Ok(format!("{summary}; Chromium took {:.1} s", took.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memmap_svg;

    fn write_png(path: &Path, w: u32, h: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) {
        let file = std::fs::File::create(path).unwrap();
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        let data: Vec<u8> = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).flat_map(|(x, y)| pixel(x, y)).collect();
        writer.write_image_data(&data).unwrap();
    }

    #[test]
    fn a_blank_or_wrong_sized_screenshot_fails_the_check() {
        let layout = memmap_svg::layout(&memmap_svg::tests::sample());
        let (w, h) = (layout.width as u32, layout.height as u32);
        let dir = std::env::temp_dir();
        let blank = dir.join(format!("memfw-blank-{}.png", std::process::id()));
        write_png(&blank, w, h, |_, _| [255; 3]);
        let e = check(&layout, &blank).unwrap_err().to_string();
        assert!(e.contains("distinct colours"), "{e}");
        write_png(&blank, w / 2, h, |_, _| [255; 3]);
        let e = check(&layout, &blank).unwrap_err().to_string();
        assert!(e.contains("expected the picture's"), "{e}");
        // Noise has colours but not the picture's fills.
        write_png(&blank, w, h, |x, y| [(x * 7) as u8, (y * 13) as u8, ((x ^ y) * 3) as u8]);
        let e = check(&layout, &blank).unwrap_err().to_string();
        assert!(e.contains("not on screen"), "{e}");
        let _ = std::fs::remove_file(&blank);
        assert_eq!(parse_color("#4e79a7"), Some([0x4e, 0x79, 0xa7]));
    }
}
