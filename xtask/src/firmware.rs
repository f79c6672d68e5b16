//! Board images that boot through real firmware: a GRUB 2 ISO for the PC, a U-Boot disk for
//! the arm64 virt machine, and the test initrd format the firmware checks.
//!
//! - GRUB (`qemu-i386-pc`): `grub-mkrescue` (Debian `grub-pc-bin`, `grub-common`, `xorriso`,
//!   `mtools`) builds a BIOS-bootable ISO holding `/boot/kernel.elf` (the firmware ELF, a
//!   Multiboot v1 image) and a `grub.cfg` that loads it with `multiboot`, passing the board's
//!   command line, and the initrd, if any, with `module`. GRUB's menu timeout is 0 and its
//!   terminal stays on the VGA console (invisible with `-display none`), so the serial line
//!   carries only the firmware's defmt frames.
//! - U-Boot (`qemu-virt-aarch64`): a small FAT disk image (`mkfs.fat`, `mcopy`) holding the raw
//!   arm64 `Image`, the initrd and a `boot.scr` (`mkimage -T script`, Debian `u-boot-tools`).
//!   Debian's `u-boot-qemu` (`qemu_arm64/u-boot.bin`, given to QEMU as `-bios`) runs its
//!   `distro_bootcmd`, finds `boot.scr` on the virtio disk and boots the Image with `booti`,
//!   handing over its own device tree (`fdtcontroladdr`), which it fixes up (`/chosen`,
//!   initrd, memory) and relocates to the top of RAM. U-Boot prints text to the PL011 before
//!   the firmware starts; `qemu::run` shows it apart and decodes from the logger's first frame
//!   delimiter on.
//!
//! The test initrd (`initrd_bytes`): the 8-byte magic `MEMFWRD1`, the payload length and the
//! 32-bit FNV-1a hash of the payload (both little-endian u32), then the payload. The platforms
//! check it where the loader put it (`kernel::initrd`) and again when the boot ends, so an
//! initrd page handed to the allocator and overwritten fails the run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use clap::ValueEnum;

use crate::board::{Board, ImageKind};
use board_desc::BootFirmware;
use crate::image::Built;
use crate::setup::HostTool;

/// Debian's U-Boot for QEMU's arm64 virt machine (`u-boot-qemu`).
pub const UBOOT_BIN: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";
/// Debian's U-Boot for QEMU's 32-bit ARM virt machine (`u-boot-qemu`, the same package).
pub const UBOOT_ARM_BIN: &str = "/usr/lib/u-boot/qemu_arm/u-boot.bin";

/// The U-Boot build that runs `board`'s image: `qemu_arm64` for an arm64 Image, `qemu_arm` for
/// a 32-bit zImage.
pub fn uboot_bin(board: &Board) -> &'static str {
    match board.image {
        ImageKind::ArmZimage => UBOOT_ARM_BIN,
        _ => UBOOT_BIN,
    }
}

/// The boot firmware a board image is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Firmware {
    /// GRUB 2 from an ISO (`-cdrom`), Multiboot v1: the PC.
    Grub,
    /// U-Boot as `-bios` with a virtio disk, `booti`: arm64.
    Uboot,
}

impl Firmware {
    /// The board description's spelling.
    fn desc(self) -> BootFirmware {
        match self {
            Self::Grub => BootFirmware::Grub,
            Self::Uboot => BootFirmware::Uboot,
        }
    }

    /// The firmware that boots `board` (the first of its `qemu.firmware`); an error when the
    /// board boots through QEMU's own loader only.
    pub fn for_board(board: &Board) -> Result<Self> {
        match board.qemu.firmware.first() {
            Some(BootFirmware::Grub) => Ok(Self::Grub),
            Some(BootFirmware::Uboot) => Ok(Self::Uboot),
            None => bail!(
                "board {} boots only through QEMU's own loader: no real firmware runs its image on QEMU's {} machine ({}: qemu.firmware is empty){}",
                board.name,
                board.qemu.machine,
                board.file().display(),
                match board.image {
                    ImageKind::Arm64Image => "; Debian's U-Boot for QEMU (qemu_arm64) runs on the virt machine only",
                    ImageKind::MultibootElf => "",
                    ImageKind::ArmZimage => "; Debian's U-Boot for QEMU (qemu_arm) runs on the virt machine only",
                }
            ),
        }
    }

    pub fn name(self) -> &'static str {
        self.desc().as_str()
    }

    /// Fails unless `board` lists this firmware (board.toml `qemu.firmware`, which validation
    /// has checked against the platform and the machine).
    pub fn check_board(self, board: &Board) -> Result<()> {
        if board.qemu.firmware.contains(&self.desc()) {
            return Ok(());
        }
        let right = Self::for_board(board).with_context(|| format!("--firmware {}", self.name()))?;
        bail!(
            "board {} ({:?} image, QEMU machine {}) boots through --firmware {}, not {} ({}: qemu.firmware)",
            board.name,
            board.image,
            board.qemu.machine,
            right.name(),
            self.name(),
            board.file().display()
        );
    }

    /// What the host needs to make and boot this firmware's images.
    pub fn host_tools(self) -> &'static [HostTool] {
        match self {
            Self::Grub => &[
                HostTool { path: "grub-mkrescue", package: "grub-common" },
                HostTool { path: "/usr/lib/grub/i386-pc/multiboot.mod", package: "grub-pc-bin" },
                HostTool { path: "xorriso", package: "xorriso" },
                HostTool { path: "mformat", package: "mtools" },
            ],
            Self::Uboot => &[
                HostTool { path: UBOOT_BIN, package: "u-boot-qemu" },
                HostTool { path: UBOOT_ARM_BIN, package: "u-boot-qemu" },
                HostTool { path: "mkimage", package: "u-boot-tools" },
                HostTool { path: "mkfs.fat", package: "dosfstools" },
                HostTool { path: "mcopy", package: "mtools" },
            ],
        }
    }
}

/// A firmware-bootable image and what went into it.
#[derive(Debug, Clone)]
pub struct FirmwareImage {
    pub firmware: Firmware,
    /// What QEMU boots: the ISO (`-cdrom`) or the FAT disk (virtio-blk).
    pub disk: PathBuf,
    /// Every file written, the disk first (for `cargo xtask image`).
    pub files: Vec<PathBuf>,
}

/// What goes into an image.
#[derive(Debug, Clone, Default)]
pub struct ImageOpts<'a> {
    /// The command line the firmware passes to the image.
    pub cmdline: &'a str,
    pub initrd: Option<&'a Path>,
}

/// Where the images for `built` go: `<profile dir>/<firmware>-<purpose>/` next to the ELF.
pub fn out_dir(built: &Built, fw: Firmware, purpose: &str) -> PathBuf {
    let dir = built.elf.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    dir.join(format!("{}-{}-{purpose}", built.elf.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()), fw.name()))
}

/// Makes `board`'s firmware image from `built` in `out_dir` (created; earlier contents of the
/// staging folders replaced). Installs the host tools first if they are missing.
pub fn make_image(board: &Board, built: &Built, fw: Firmware, opts: &ImageOpts<'_>, out_dir: &Path) -> Result<FirmwareImage> {
    fw.check_board(board)?;
    crate::setup::ensure_host_tools(fw.host_tools())?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    if let Some(i) = opts.initrd {
        ensure!(i.is_file(), "initrd {} is not a file", i.display());
    }
    match fw {
        Firmware::Grub => grub_iso(built, opts, out_dir),
        Firmware::Uboot => uboot_disk(board, built, opts, out_dir),
    }
}

fn run_tool(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `grub.cfg` for the ISO: no menu, straight into `multiboot`.
pub fn grub_cfg(cmdline: &str, initrd: bool) -> Result<String> {
    // GRUB's script quoting: inside single quotes nothing is special, and a single quote
    // cannot appear at all.
    ensure!(!cmdline.contains('\''), "the command line {cmdline:?} contains a single quote, which grub.cfg cannot carry");
    ensure!(!cmdline.contains('\n'), "the command line contains a newline");
    let mut cfg = String::from(
        "# Written by cargo xtask image: boot the firmware at once through Multiboot v1.\n\
         set timeout=0\n\
         set timeout_style=hidden\n\
         # GRUB stays on the VGA console: the serial line is the firmware's (defmt frames).\n\
         terminal_output console\n\
         menuentry 'memfw' {\n",
    );
    cfg.push_str(&format!("    multiboot /boot/kernel.elf '{cmdline}'\n"));
    if initrd {
        cfg.push_str("    module /boot/initrd initrd\n");
    }
    cfg.push_str("    boot\n}\n");
    Ok(cfg)
}

fn grub_iso(built: &Built, opts: &ImageOpts<'_>, out_dir: &Path) -> Result<FirmwareImage> {
    let staging = out_dir.join("iso-root");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("clearing {}", staging.display()))?;
    }
    std::fs::create_dir_all(staging.join("boot/grub"))?;
    std::fs::copy(&built.elf, staging.join("boot/kernel.elf")).context("copying the firmware ELF")?;
    if let Some(i) = opts.initrd {
        std::fs::copy(i, staging.join("boot/initrd")).with_context(|| format!("copying {}", i.display()))?;
    }
    std::fs::write(staging.join("boot/grub/grub.cfg"), grub_cfg(opts.cmdline, opts.initrd.is_some())?)?;
    let iso = out_dir.join("boot.iso");
    // Only the BIOS platform (i386-pc): an EFI image would need grub-efi and is of no use here.
    run_tool(
        Command::new("grub-mkrescue")
            .arg("-o")
            .arg(&iso)
            .arg("--directory=/usr/lib/grub/i386-pc")
            .arg(&staging),
    )
    .context("grub-mkrescue (grub-pc-bin, grub-common, xorriso, mtools)")?;
    Ok(FirmwareImage { firmware: Firmware::Grub, disk: iso.clone(), files: vec![iso, staging.join("boot/grub/grub.cfg")] })
}

/// How U-Boot boots an image kind: the file name on the disk, the command, and the address to
/// load it at (`None`: U-Boot's `kernel_addr_r`).
///
/// - arm64 Image: `booti`, which moves the Image to its `text_offset` itself;
/// - 32-bit zImage: `bootz`, which runs the image where it was loaded (a Linux zImage
///   decompresses itself from anywhere; this one is linked for one address), so it is loaded at
///   the board's `load-address`, where QEMU's own loader puts it too. U-Boot's `bootz` checks the
///   zImage magic at 0x24 and reserves `end - start` bytes from there (arch/arm/lib/zimage.c).
pub fn uboot_boot(board: &Board) -> (&'static str, &'static str, Option<u64>) {
    match board.image {
        ImageKind::ArmZimage => ("zImage", "bootz", Some(board.load_address)),
        _ => ("Image", "booti", None),
    }
}

/// The U-Boot script: load the image (and initrd) from the virtio disk and boot it with
/// U-Boot's own device tree (`file`, `command` and `load_at` from [`uboot_boot`]).
pub fn uboot_script(cmdline: &str, initrd: bool, (file, command, load_at): (&str, &str, Option<u64>)) -> Result<String> {
    // Hush: nothing is special inside single quotes, which cannot appear in them.
    ensure!(!cmdline.contains('\''), "the command line {cmdline:?} contains a single quote, which boot.scr cannot carry");
    ensure!(!cmdline.contains('\n'), "the command line contains a newline");
    let addr = load_at.map_or_else(|| "${kernel_addr_r}".to_owned(), |a| format!("{a:#x}"));
    let mut s = String::from("# Written by cargo xtask image; compiled with mkimage -T script.\n");
    s.push_str(&format!("setenv bootargs '{cmdline}'\n"));
    s.push_str(&format!("echo memfw: loading {file} from ${{devtype}} ${{devnum}}:${{distro_bootpart}}\n"));
    s.push_str(&format!("load ${{devtype}} ${{devnum}}:${{distro_bootpart}} {addr} {file}\n"));
    if initrd {
        s.push_str("load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} initrd\n");
        s.push_str(&format!("{command} {addr} ${{ramdisk_addr_r}}:${{filesize}} ${{fdtcontroladdr}}\n"));
    } else {
        s.push_str(&format!("{command} {addr} - ${{fdtcontroladdr}}\n"));
    }
    s.push_str(&format!("echo memfw: {command} returned: the {file} was not booted\n"));
    Ok(s)
}

fn uboot_disk(board: &Board, built: &Built, opts: &ImageOpts<'_>, out_dir: &Path) -> Result<FirmwareImage> {
    let script = out_dir.join("boot.cmd");
    let scr = out_dir.join("boot.scr");
    let boot = uboot_boot(board);
    std::fs::write(&script, uboot_script(opts.cmdline, opts.initrd.is_some(), boot)?)?;
    let arch = if board.image == ImageKind::ArmZimage { "arm" } else { "arm64" };
    run_tool(Command::new("mkimage").args(["-A", arch, "-O", "linux", "-T", "script", "-C", "none", "-n", "memfw"]).arg("-d").arg(&script).arg(&scr))
        .context("mkimage (u-boot-tools)")?;
    let image_len = std::fs::metadata(&built.image)?.len();
    let initrd_len = opts.initrd.map(|i| std::fs::metadata(i).map(|m| m.len())).transpose()?.unwrap_or(0);
    // FAT16 with room for the files plus slack, in KiB for mkfs.fat -C; at least 16 MiB.
    let kib = ((image_len + initrd_len) / 1024 * 5 / 4 + 4096).max(16 << 10);
    let part = out_dir.join("part.img");
    if part.exists() {
        std::fs::remove_file(&part)?;
    }
    run_tool(Command::new("mkfs.fat").args(["-n", "MEMFW"]).arg("-C").arg(&part).arg(kib.to_string()))
        .context("mkfs.fat (dosfstools)")?;
    let image_name = format!("::{}", boot.0);
    let files = [(Some(built.image.as_path()), image_name.as_str()), (Some(scr.as_path()), "::boot.scr"), (opts.initrd, "::initrd")];
    for (from, to) in files {
        let Some(from) = from else { continue };
        run_tool(Command::new("mcopy").env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(&part).arg(from).arg(to))
            .context("mcopy (mtools)")?;
    }
    // U-Boot's distro boot looks in partition 1 ("No partition table" otherwise): an MBR with
    // one bootable FAT partition at 1 MiB, then the file system.
    let fs = std::fs::read(&part)?;
    let mut disk_bytes = mbr(PART_START_LBA, (fs.len() / 512) as u32);
    disk_bytes.resize((PART_START_LBA * 512) as usize, 0);
    disk_bytes.extend_from_slice(&fs);
    let disk = out_dir.join("disk.img");
    std::fs::write(&disk, &disk_bytes).with_context(|| format!("writing {}", disk.display()))?;
    std::fs::remove_file(&part)?;
    Ok(FirmwareImage { firmware: Firmware::Uboot, disk: disk.clone(), files: vec![disk, built.image.clone(), scr] })
}

/// First sector of the FAT partition on the U-Boot disk (1 MiB, the usual alignment).
const PART_START_LBA: u32 = 2048;

/// A master boot record with one bootable FAT partition (type 0x0e, FAT16 LBA) of `sectors`
/// sectors from `start_lba`. CHS fields hold the "use LBA" values (0xfe 0xff 0xff).
fn mbr(start_lba: u32, sectors: u32) -> Vec<u8> {
    let mut m = vec![0u8; 512];
    let e = &mut m[446..462];
    e[0] = 0x80;
    e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[4] = 0x0e;
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[8..12].copy_from_slice(&start_lba.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xaa;
    m
}

/// Magic at the start of a test initrd.
pub const INITRD_MAGIC: &[u8; 8] = b"MEMFWRD1";

/// 32-bit FNV-1a.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// A test initrd of `payload_len` pseudo-random bytes (xorshift from `seed`) with the header the
/// firmware checks.
pub fn initrd_bytes(payload_len: u32, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let payload: Vec<u8> = (0..payload_len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(INITRD_MAGIC);
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(&fnv1a32(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which firmware boots which board is the boards' data: the raspi3b has none (U-Boot's
    /// qemu_arm64 build needs virt's virtio bus), and the wrong one is refused by name.
    #[test]
    fn firmware_per_board_comes_from_the_board() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let board = |n: &str| board_desc::load(&root.join("boards").join(n)).unwrap();
        let (pc, virt, rpi) = (board("qemu-i386-pc"), board("qemu-virt-aarch64"), board("qemu-raspi3b"));
        assert_eq!(Firmware::for_board(&pc).unwrap(), Firmware::Grub);
        assert_eq!(Firmware::for_board(&virt).unwrap(), Firmware::Uboot);
        // The 32-bit virt board boots through Debian's qemu_arm build.
        let arm = board("qemu-virt-arm");
        assert_eq!((Firmware::for_board(&arm).unwrap(), uboot_bin(&arm), uboot_bin(&virt)), (Firmware::Uboot, UBOOT_ARM_BIN, UBOOT_BIN));
        Firmware::Uboot.check_board(&virt).unwrap();
        let e = Firmware::for_board(&rpi).unwrap_err().to_string();
        assert!(e.contains("board qemu-raspi3b boots only through QEMU's own loader") && e.contains("virt machine only"), "{e}");
        let e = format!("{:#}", Firmware::Uboot.check_board(&rpi).unwrap_err());
        assert!(e.contains("--firmware uboot: board qemu-raspi3b boots only through QEMU's own loader"), "{e}");
        let e = Firmware::Uboot.check_board(&pc).unwrap_err().to_string();
        assert!(e.contains("boots through --firmware grub, not uboot"), "{e}");
    }

    #[test]
    fn fnv1a32_known_values() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn initrd_header_describes_payload() {
        let b = initrd_bytes(1000, 7);
        assert_eq!(&b[..8], INITRD_MAGIC);
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 1000);
        assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), fnv1a32(&b[16..]));
        assert_eq!(b.len(), 1016);
    }

    #[test]
    fn scripts_quote_the_command_line() {
        assert!(grub_cfg("mem=64M", true).unwrap().contains("multiboot /boot/kernel.elf 'mem=64M'\n    module /boot/initrd"));
        let arm64 = ("Image", "booti", None);
        assert!(uboot_script("a b", false, arm64).unwrap().contains("setenv bootargs 'a b'"));
        assert!(uboot_script("a b", false, arm64).unwrap().contains("\nbooti ${kernel_addr_r} - ${fdtcontroladdr}\n"));
        // bootz runs the zImage where it lies: it is loaded at the board's load address.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let arm = board_desc::load(&root.join("boards/qemu-virt-arm")).unwrap();
        assert_eq!(uboot_boot(&arm), ("zImage", "bootz", Some(0x4001_0000)));
        let s = uboot_script("", true, uboot_boot(&arm)).unwrap();
        assert!(s.contains(" 0x40010000 zImage\n") && s.contains("\nbootz 0x40010000 ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}\n"), "{s}");
        assert!(grub_cfg("it's", false).is_err());
    }
}
