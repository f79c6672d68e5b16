//! uart-io: the `embedded_io` `Write::write` and `Read::read` loops of a byte-at-a-time UART,
//! written once for every console driver (`imx-uart`, `meson-uart`, `cadence-uart`,
//! `exynos-uart`).
//!
//! A driver provides its byte operations through [`ByteTx`] and [`ByteRx`]; [`write`] and
//! [`read`] give the `embedded_io` semantics the drivers document:
//! - `write` waits (bounded, the driver's own limit) for room for the first byte, then queues
//!   bytes until the transmitter is full or `buf` is done; `Ok(0)` only for an empty `buf`;
//! - `read` blocks until at least one byte or a receive error arrives, then returns the bytes
//!   already waiting. A receive error met after the first byte ends the read early and is kept
//!   for the next call ([`ByteRx::deferred_error`]), so bytes and errors keep their order.
#![no_std]
#![forbid(unsafe_code)]

/// What a UART's transmitter offers a byte at a time.
pub trait ByteTx {
    /// The driver's error type.
    type Error;

    /// Sends one byte, waiting (bounded) for room first.
    ///
    /// # Errors
    /// The driver's time-out when there never was room.
    fn write_byte(&mut self, byte: u8) -> Result<(), Self::Error>;

    /// Sends one byte if there is room now; whether it did.
    fn try_write_byte(&mut self, byte: u8) -> bool;
}

/// What a UART's receiver offers a byte at a time.
pub trait ByteRx {
    /// The driver's error type.
    type Error;

    /// A received byte, if one is waiting.
    ///
    /// # Errors
    /// A receive error the hardware reports (framing, parity, overrun, break).
    fn try_read_byte(&mut self) -> Result<Option<u8>, Self::Error>;

    /// Where a receive error met after the first byte of a [`read`] waits for the next call.
    fn deferred_error(&mut self) -> &mut Option<Self::Error>;
}

/// `embedded_io::Write::write` for `uart` (see the crate documentation).
///
/// # Errors
/// The first byte's [`ByteTx::write_byte`] error; nothing was written then.
pub fn write<U: ByteTx>(uart: &mut U, buf: &[u8]) -> Result<usize, U::Error> {
    let Some((&first, rest)) = buf.split_first() else {
        return Ok(0);
    };
    uart.write_byte(first)?;
    let mut n = 1;
    for &byte in rest {
        if !uart.try_write_byte(byte) {
            break;
        }
        n += 1;
    }
    Ok(n)
}

/// `embedded_io::Read::read` for `uart` (see the crate documentation).
///
/// # Errors
/// A deferred receive error, or one met before the first byte.
pub fn read<U: ByteRx>(uart: &mut U, buf: &mut [u8]) -> Result<usize, U::Error> {
    if buf.is_empty() {
        return Ok(0);
    }
    if let Some(e) = uart.deferred_error().take() {
        return Err(e);
    }
    let first = loop {
        if let Some(byte) = uart.try_read_byte()? {
            break byte;
        }
        core::hint::spin_loop();
    };
    buf[0] = first;
    let mut n = 1;
    while n < buf.len() {
        match uart.try_read_byte() {
            Ok(Some(byte)) => {
                buf[n] = byte;
                n += 1;
            }
            Ok(None) => break,
            Err(e) => {
                *uart.deferred_error() = Some(e);
                break;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    /// A UART with room for `room` bytes and a queue of received bytes or errors.
    struct Fake {
        room: usize,
        sent: Vec<u8>,
        rx: VecDeque<Result<u8, &'static str>>,
        deferred: Option<&'static str>,
    }

    impl ByteTx for Fake {
        type Error = &'static str;
        fn write_byte(&mut self, byte: u8) -> Result<(), &'static str> {
            if self.try_write_byte(byte) {
                Ok(())
            } else {
                Err("timeout")
            }
        }
        fn try_write_byte(&mut self, byte: u8) -> bool {
            if self.room == 0 {
                return false;
            }
            self.room -= 1;
            self.sent.push(byte);
            true
        }
    }

    impl ByteRx for Fake {
        type Error = &'static str;
        fn try_read_byte(&mut self) -> Result<Option<u8>, &'static str> {
            self.rx.pop_front().transpose()
        }
        fn deferred_error(&mut self) -> &mut Option<&'static str> {
            &mut self.deferred
        }
    }

    fn fake(room: usize, rx: &[Result<u8, &'static str>]) -> Fake {
        Fake {
            room,
            sent: Vec::new(),
            rx: rx.iter().copied().collect(),
            deferred: None,
        }
    }

    #[test]
    fn write_queues_until_full_and_fails_only_without_room_for_the_first_byte() {
        let mut u = fake(3, &[]);
        assert_eq!(write(&mut u, b""), Ok(0));
        assert_eq!(write(&mut u, b"hello"), Ok(3));
        assert_eq!(u.sent, b"hel");
        assert_eq!(write(&mut u, b"lo"), Err("timeout"));
    }

    #[test]
    fn read_keeps_bytes_and_errors_in_order() {
        let mut u = fake(0, &[Ok(b'a'), Ok(b'b'), Err("framing"), Ok(b'c')]);
        let mut buf = [0u8; 8];
        assert_eq!(read(&mut u, &mut buf), Ok(2));
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(read(&mut u, &mut buf), Err("framing"));
        assert_eq!(read(&mut u, &mut buf), Ok(1));
        assert_eq!(buf[0], b'c');
        assert_eq!(read(&mut u, &mut []), Ok(0));
        // An error before any byte is returned at once.
        let mut u = fake(0, &[Err("overrun"), Ok(b'x')]);
        assert_eq!(read(&mut u, &mut buf), Err("overrun"));
    }
}
