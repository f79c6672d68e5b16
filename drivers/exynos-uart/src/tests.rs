//! Host tests against a bus-level model of the Exynos UART.

extern crate std;

use super::*;
use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write, WriteReady};
use std::collections::VecDeque;
use std::vec::Vec;

const FIFO_DEPTH: usize = 64;

/// A bus-level model of an Exynos4210 UART channel with a 64-byte FIFO.
///
/// ```text
///  UTXH write ──► tx_fifo (64 with FIFOMODE, else 1) ──► shifter ──► gone
///                 one step right every `drain_period` status reads (UFSTAT, UTRSTAT),
///                 only while UCON's transmit mode is not "disabled"
///  rx queue (byte, UERSTAT bits) ──► URXH read; UERSTAT read returns the head's bits and
///                 clears them; UFSTAT count / UTRSTAT.RXDR = queue non-empty
///  UFCON.RESETTX/RX: FIFOs emptied; the bits read back set for `reset_reads` reads
/// ```
struct FakeExynos {
    regs: [u32; 16],
    writes: Vec<(usize, u32)>,
    tx_log: Vec<u8>,
    tx_fifo: VecDeque<u8>,
    shifter: Option<u8>,
    tx_overflows: usize,
    drain_period: u32,
    status_reads: u32,
    rx: VecDeque<(u8, u32)>,
    reset_reads: u32,
    fifo_len_at_reset: Option<usize>,
}

impl FakeExynos {
    fn new() -> Self {
        Self {
            regs: [0; 16],
            writes: Vec::new(),
            tx_log: Vec::new(),
            tx_fifo: VecDeque::new(),
            shifter: None,
            tx_overflows: 0,
            drain_period: 1,
            status_reads: 0,
            rx: VecDeque::new(),
            reset_reads: 2,
            fifo_len_at_reset: None,
        }
    }

    /// As U-Boot leaves an Exynos4412 console: 115200 from 100 MHz, FIFOs on, polling mode.
    fn running() -> Self {
        let mut fake = Self::new();
        fake.regs[reg::ULCON / 4] = LCON_CS8;
        fake.regs[reg::UCON / 4] = UCON_TXMODE_CPU | UCON_RXMODE_CPU;
        fake.regs[reg::UFCON / 4] = UFCON_FIFOMODE;
        fake.regs[reg::UBRDIV / 4] = 53;
        fake.regs[reg::UFRACVAL / 4] = 4;
        fake
    }

    fn get(&self, offset: usize) -> u32 {
        self.regs[offset / 4]
    }

    fn capacity(&self) -> usize {
        if self.get(reg::UFCON) & UFCON_FIFOMODE != 0 {
            FIFO_DEPTH
        } else {
            1
        }
    }

    fn tick(&mut self) {
        self.status_reads += 1;
        if self.drain_period != 0
            && self.status_reads.is_multiple_of(self.drain_period)
            && self.get(reg::UCON) & UCON_TXMODE_MASK != 0
        {
            self.shifter = self.tx_fifo.pop_front();
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.rx.extend(bytes.iter().map(|&b| (b, 0)));
    }
}

impl ExynosRegs for FakeExynos {
    fn read32(&mut self, offset: usize) -> u32 {
        match offset {
            reg::URXH => self.rx.pop_front().map_or(0, |(b, _)| u32::from(b)),
            reg::UERSTAT => self.rx.front_mut().map_or(0, |(_, e)| core::mem::take(e)),
            reg::UFSTAT => {
                self.tick();
                let mut ufstat =
                    (self.rx.len().min(255) as u32) | ((self.tx_fifo.len().min(255) as u32) << 16);
                if self.rx.len() >= FIFO_DEPTH {
                    ufstat = (ufstat & !UFSTAT_RXMASK) | UFSTAT_RXFULL;
                }
                if self.tx_fifo.len() >= self.capacity() {
                    ufstat |= UFSTAT_TXFULL;
                }
                ufstat
            }
            reg::UTRSTAT => {
                self.tick();
                let mut utrstat = 0;
                if !self.rx.is_empty() {
                    utrstat |= UTRSTAT_RXDR;
                }
                if self.tx_fifo.is_empty() {
                    utrstat |= UTRSTAT_TXFE;
                    if self.shifter.is_none() {
                        utrstat |= UTRSTAT_TXE;
                    }
                }
                utrstat
            }
            reg::UFCON => {
                let ufcon = self.get(reg::UFCON);
                if ufcon & UFCON_RESETBOTH != 0 {
                    if self.reset_reads == 0 {
                        self.regs[reg::UFCON / 4] &= !UFCON_RESETBOTH;
                    } else {
                        self.reset_reads -= 1;
                    }
                }
                ufcon
            }
            _ => self.get(offset),
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        assert_eq!(offset % 4, 0, "unaligned register offset {offset:#x}");
        self.writes.push((offset, value));
        match offset {
            reg::UTXH => {
                self.tx_log.push(value as u8);
                if self.tx_fifo.len() >= self.capacity() {
                    self.tx_overflows += 1;
                } else {
                    self.tx_fifo.push_back(value as u8);
                }
            }
            reg::URXH | reg::UERSTAT | reg::UFSTAT | reg::UTRSTAT => {}
            reg::UINTP => self.regs[offset / 4] &= !value,
            reg::UFCON => {
                if value & UFCON_RESETTX != 0 {
                    self.fifo_len_at_reset = Some(self.tx_fifo.len());
                    self.tx_fifo.clear();
                    self.shifter = None;
                }
                if value & UFCON_RESETRX != 0 {
                    self.rx.clear();
                }
                self.regs[offset / 4] = value;
            }
            _ => self.regs[offset / 4] = value,
        }
    }
}

fn ready_uart() -> ExynosUart<FakeExynos> {
    let mut uart = ExynosUart::with_spin_limit(FakeExynos::new(), 1000);
    uart.init(Some(100_000_000), 115_200).unwrap();
    uart.regs.writes.clear();
    uart.regs.status_reads = 0;
    uart
}

#[test]
fn register_offsets_match_serial_s3c_h() {
    assert_eq!(
        [
            reg::ULCON,
            reg::UCON,
            reg::UFCON,
            reg::UMCON,
            reg::UTRSTAT,
            reg::UERSTAT,
            reg::UFSTAT
        ],
        [0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18]
    );
    assert_eq!(
        [
            reg::UTXH,
            reg::URXH,
            reg::UBRDIV,
            reg::UFRACVAL,
            reg::UINTP,
            reg::UINTM
        ],
        [0x20, 0x24, 0x28, 0x2C, 0x30, 0x38]
    );
    assert_eq!(COMPATIBLES, ["samsung,exynos4210-uart"]);
}

/// Expect: div = sclk / baud, UBRDIV = div / 16 - 1, UFRACVAL = div % 16. By hand:
/// - 100 MHz, 115200: div 868 (868.06), UBRDIV 53, UFRACVAL 4: 100e6 / 868 = 115207;
/// - 24 MHz, 115200: div 208, UBRDIV 12, UFRACVAL 0: 115384;
/// - 100 MHz, 9600: div 10416, UBRDIV 650, UFRACVAL 0: 9600.6;
/// - 100 MHz, 3 Mbaud: div 33, UBRDIV 1, UFRACVAL 1: 3.03 Mbaud (1 % fast);
/// - 24 MHz, 3 Mbaud: div 8 < 16, impossible.
#[test]
fn baud_divisors_match_the_formula() {
    let d = |ubrdiv, ufracval| Some(BaudDivisors { ubrdiv, ufracval });
    assert_eq!(baud_divisors(100_000_000, 115_200), d(53, 4));
    assert_eq!(baud_divisors(24_000_000, 115_200), d(12, 0));
    assert_eq!(baud_divisors(100_000_000, 9_600), d(650, 0));
    assert_eq!(baud_divisors(100_000_000, 3_000_000), d(1, 1));
    assert_eq!(
        baud_divisors(100_000_000, 115_200)
            .unwrap()
            .baud(100_000_000),
        115_207
    );
    assert_eq!(baud_divisors(24_000_000, 3_000_000), None);
    assert_eq!(baud_divisors(24_000_000, 0), None);
    assert_eq!(baud_divisors(u32::MAX, 1), None, "UBRDIV above 16 bits");
}

#[test]
fn new_touches_no_register() {
    let uart = ExynosUart::new(FakeExynos::new());
    assert_eq!(uart.spin_limit(), DEFAULT_SPIN_LIMIT);
    let regs = uart.into_inner();
    assert!(regs.writes.is_empty());
    assert_eq!(regs.status_reads, 0);
}

/// Expect: drain, interrupts masked and cleared, FIFO reset (waiting for the self-clear), 8N1,
/// UBRDIV, UFRACVAL, no flow control, then polling mode with the clock selection kept.
#[test]
fn init_programs_registers_in_order() {
    let mut fake = FakeExynos::running();
    fake.regs[reg::UCON / 4] |= UCON_CLKMASK | (1 << 6) | (1 << 7); // error irq, RX timeout
    fake.tx_fifo.extend(b"boot");
    fake.drain_period = 2;
    let mut uart = ExynosUart::with_spin_limit(fake, 1000);
    uart.init_console(Some(24_000_000), Some(115_200)).unwrap();
    let regs = &uart.regs;
    assert_eq!(
        regs.writes,
        [
            (reg::UINTM, UINT_ALL),
            (reg::UINTP, UINT_ALL),
            (reg::UFCON, UFCON_FIFOMODE | UFCON_RESETBOTH),
            (reg::UFCON, UFCON_FIFOMODE),
            (reg::ULCON, LCON_CS8),
            (reg::UBRDIV, 12),
            (reg::UFRACVAL, 0),
            (reg::UMCON, 0),
            (reg::UCON, UCON_CLKMASK | UCON_TXMODE_CPU | UCON_RXMODE_CPU),
        ]
    );
    assert_eq!(regs.fifo_len_at_reset, Some(0), "boot output drained first");
    assert_eq!(regs.reset_reads, 0, "waited for the FIFO reset to finish");
    assert!(uart.fifo_mode());
}

/// Expect: taking over keeps the rate and format and writes only the interrupt mask and pending
/// bits; it learns the FIFO mode from UFCON.
#[test]
fn take_over_keeps_the_boot_loaders_rate() {
    let mut uart = ExynosUart::with_spin_limit(FakeExynos::running(), 1000);
    uart.regs.tx_fifo.extend(b"boot");
    uart.regs.drain_period = 0;
    uart.init_console(Some(100_000_000), None).unwrap();
    assert_eq!(
        uart.regs.writes,
        [(reg::UINTM, UINT_ALL), (reg::UINTP, UINT_ALL)]
    );
    assert_eq!(
        (uart.regs.get(reg::UBRDIV), uart.regs.get(reg::UFRACVAL)),
        (53, 4)
    );
    assert_eq!(uart.regs.tx_fifo.len(), 4);
    assert!(uart.fifo_mode());

    let mut fake = FakeExynos::running();
    fake.regs[reg::UCON / 4] = 0; // both modes disabled
    fake.regs[reg::UFCON / 4] = 0; // no FIFO
    let mut uart = ExynosUart::with_spin_limit(fake, 1000);
    uart.take_over();
    assert_eq!(uart.regs.get(reg::UCON), UCON_TXMODE_CPU | UCON_RXMODE_CPU);
    assert!(!uart.fifo_mode());
}

#[test]
fn init_without_a_clock_or_with_an_impossible_baud_touches_nothing() {
    let mut uart = ExynosUart::new(FakeExynos::running());
    assert_eq!(uart.init_console(None, Some(115_200)), Err(Error::NoClock));
    assert_eq!(
        uart.init(Some(24_000_000), 3_000_000),
        Err(Error::InvalidBaud)
    );
    assert!(uart.regs.writes.is_empty());
    assert_eq!(uart.regs.status_reads, 0);
    assert_eq!(Error::NoClock.kind(), ErrorKind::InvalidInput);
    assert!(std::format!("{}", Error::NoClock).contains("clock frequency is unknown"));
}

#[test]
fn written_bytes_reach_utxh_in_order_without_overflowing() {
    let mut uart = ready_uart();
    uart.regs.drain_period = 3;
    let msg: Vec<u8> = (0..=255u8).cycle().take(300).collect();
    uart.write_all(&msg).unwrap();
    uart.flush().unwrap();
    assert_eq!(uart.regs.tx_log, msg);
    assert_eq!(uart.regs.tx_overflows, 0);
    assert!(uart.regs.tx_fifo.is_empty() && uart.regs.shifter.is_none());
}

/// Expect: without FIFOs the transmitter takes one byte per TXFE, and nothing overflows.
#[test]
fn holding_register_mode_writes_one_byte_at_a_time() {
    let mut fake = FakeExynos::running();
    fake.regs[reg::UFCON / 4] = 0;
    fake.drain_period = 3;
    let mut uart = ExynosUart::with_spin_limit(fake, 1000);
    uart.take_over();
    assert_eq!(uart.write(b"abc"), Ok(1));
    uart.write_all(b"bc").unwrap();
    assert_eq!(uart.regs.tx_log, b"abc");
    assert_eq!(uart.regs.tx_overflows, 0);
    uart.regs.receive(b"z");
    assert_eq!(
        uart.try_read_byte(),
        Ok(Some(b'z')),
        "RXDR used without FIFOs"
    );
}

#[test]
fn write_queues_until_the_fifo_is_full() {
    let mut uart = ready_uart();
    uart.regs.drain_period = 0;
    assert_eq!(uart.write(&[1u8; 100]), Ok(FIFO_DEPTH));
    assert_eq!(uart.regs.tx_overflows, 0);
    assert_eq!(uart.write_ready(), Ok(false));
    assert!(!uart.try_write_byte(2));
    assert_eq!(uart.write(&[]), Ok(0));
}

#[test]
fn full_fifo_makes_write_wait_for_room() {
    let mut uart = ready_uart();
    uart.regs.tx_fifo.extend([0u8; FIFO_DEPTH]);
    uart.regs.drain_period = 20;
    assert_eq!(uart.write(b"x"), Ok(1));
    assert!(uart.regs.status_reads >= 20, "wrote into a full FIFO");
    assert_eq!(uart.regs.tx_overflows, 0);
}

/// Expect: a FIFO that never drains costs exactly `spin_limit` polls, then `TimedOut`.
#[test]
fn full_fifo_times_out_after_spin_limit_polls() {
    let mut uart = ready_uart();
    uart.spin_limit = 25;
    uart.regs.drain_period = 0;
    uart.regs.tx_fifo.extend([0u8; FIFO_DEPTH]);
    assert_eq!(uart.write_byte(1), Err(Error::Timeout));
    assert_eq!(uart.regs.status_reads, 25);
    assert_eq!(uart.write(b"abc"), Err(Error::Timeout));
    assert_eq!(uart.regs.status_reads, 50);
    assert_eq!(uart.flush(), Err(Error::Timeout));
    assert_eq!(uart.regs.status_reads, 75);
    assert!(uart.regs.tx_log.is_empty());
    assert_eq!(Error::Timeout.kind(), ErrorKind::TimedOut);
}

#[test]
fn flush_waits_for_txe_not_just_an_empty_fifo() {
    let mut uart = ready_uart();
    uart.regs.drain_period = 10;
    uart.write_all(b"ab").unwrap();
    uart.flush().unwrap();
    assert!(
        uart.regs.status_reads >= 30,
        "flush returned before the shifter emptied"
    );
    assert!(uart.regs.shifter.is_none());
}

#[test]
fn reads_return_received_bytes() {
    let mut uart = ready_uart();
    assert_eq!(uart.try_read_byte(), Ok(None));
    assert_eq!(uart.read_ready(), Ok(false));
    uart.regs.receive(b"hello");
    assert_eq!(uart.read_ready(), Ok(true));
    assert_eq!(uart.try_read_byte(), Ok(Some(b'h')));
    let mut buf = [0u8; 3];
    assert_eq!(uart.read(&mut buf), Ok(3));
    assert_eq!(&buf, b"ell");
    let mut buf = [0u8; 8];
    assert_eq!(uart.read(&mut buf), Ok(1));
    assert_eq!(buf[0], b'o');
    assert_eq!(uart.read(&mut []), Ok(0));
}

#[test]
fn a_full_receive_fifo_still_reads() {
    let mut uart = ready_uart();
    let bytes = [7u8; FIFO_DEPTH];
    uart.regs.receive(&bytes);
    let mut buf = [0u8; FIFO_DEPTH];
    assert_eq!(
        uart.read(&mut buf),
        Ok(FIFO_DEPTH),
        "RXFULL with a count field of 0"
    );
}

#[test]
fn uerstat_errors_drop_the_bad_character() {
    for (bits, expected) in [
        (UERSTAT_FRAME, Error::Framing),
        (UERSTAT_PARITY, Error::Parity),
        (UERSTAT_BREAK | UERSTAT_FRAME, Error::Break),
        (UERSTAT_OVERRUN | UERSTAT_PARITY, Error::Parity),
    ] {
        let mut uart = ready_uart();
        uart.regs.rx.push_back((0xEE, bits));
        uart.regs.receive(b"k");
        assert_eq!(uart.try_read_byte(), Err(expected), "{bits:#x}");
        assert_eq!(uart.try_read_byte(), Ok(Some(b'k')), "{bits:#x}");
    }
    assert_eq!(Error::Parity.kind(), ErrorKind::InvalidData);
    assert_eq!(Error::Break.kind(), ErrorKind::Other);
}

#[test]
fn overrun_is_reported_then_its_good_byte_returned() {
    let mut uart = ready_uart();
    uart.regs.rx.push_back((b'a', UERSTAT_OVERRUN));
    uart.regs.receive(b"b");
    let mut buf = [0u8; 4];
    assert_eq!(uart.read(&mut buf), Err(Error::Overrun));
    assert_eq!(uart.read_ready(), Ok(true));
    assert_eq!(uart.read(&mut buf), Ok(2));
    assert_eq!(&buf[..2], b"ab");
}

#[test]
fn error_after_first_byte_is_deferred_to_the_next_read() {
    let mut uart = ready_uart();
    uart.regs.receive(b"ab");
    uart.regs.rx.push_back((0, UERSTAT_BREAK));
    uart.regs.receive(b"c");
    let mut buf = [0u8; 8];
    assert_eq!(uart.read(&mut buf), Ok(2));
    assert_eq!(&buf[..2], b"ab");
    assert_eq!(uart.read_ready(), Ok(true));
    assert_eq!(uart.read(&mut buf), Err(Error::Break));
    assert_eq!(uart.read(&mut buf), Ok(1));
    assert_eq!(buf[0], b'c');
}

#[test]
fn works_through_a_mutable_reference() {
    let mut fake = FakeExynos::new();
    {
        let mut uart = ExynosUart::with_spin_limit(&mut fake, 1000);
        uart.init(Some(100_000_000), 115_200).unwrap();
        uart.write_all(b"ok").unwrap();
    }
    assert_eq!(fake.tx_log, b"ok");
    assert_eq!((fake.get(reg::UBRDIV), fake.get(reg::UFRACVAL)), (53, 4));
}
