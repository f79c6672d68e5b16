//! The application an image runs: one of the crates under `apps/`, chosen when the image is
//! built. `cargo xtask build/run/test --app NAME` sets `MEMFW_APP=NAME` for the build; this
//! crate's build script turns it into `cfg(memfw_app = "NAME")` (an unknown name stops the
//! build, naming it), and [`APP`] is that crate's application. A board's `main.rs` hands it to
//! `kernel::start_kernel`, so boards stay wiring only and know no application.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(memfw_app = "selftest")]
pub use app_selftest::APP;

#[cfg(memfw_app = "memtest")]
pub use app_memtest::APP;

#[cfg(memfw_app = "hello")]
pub use app_hello::APP;
