//! Host tests against a bus-level model of the Meson UART.

extern crate std;

use super::*;
use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write, WriteReady};
use std::collections::VecDeque;
use std::vec::Vec;

/// A bus-level model of a Meson AO UART.
///
/// ```text
///  WFIFO write ──► tx_fifo (64) ──► shifter ──► gone
///                  one step right every `drain_period` STATUS reads, while CONTROL.TX_EN
///  rx queue ──► RFIFO read; STATUS.RX_EMPTY = queue empty
///  error bits: set in STATUS as a bad character arrives, cleared while CONTROL.CLEAR_ERR is 1
///  CONTROL.TX_RST / RX_RST (while 1): FIFOs emptied
/// ```
struct FakeMeson {
    control: u32,
    reg5: u32,
    writes: Vec<(usize, u32)>,
    tx_log: Vec<u8>,
    tx_fifo: VecDeque<u8>,
    shifter: Option<u8>,
    tx_overflows: usize,
    drain_period: u32,
    status_reads: u32,
    rx: VecDeque<u8>,
    errors: u32,
    rfifo_reads: u32,
    /// `(n, byte, error_bits)`: `byte` arrives, raising `error_bits`, at the `n`th RFIFO read.
    late_arrival: Option<(u32, u8, u32)>,
    fifo_len_at_reset: Option<usize>,
}

impl FakeMeson {
    fn new() -> Self {
        Self {
            control: 0,
            reg5: 0,
            writes: Vec::new(),
            tx_log: Vec::new(),
            tx_fifo: VecDeque::new(),
            shifter: None,
            tx_overflows: 0,
            drain_period: 1,
            status_reads: 0,
            rx: VecDeque::new(),
            errors: 0,
            rfifo_reads: 0,
            late_arrival: None,
            fifo_len_at_reset: None,
        }
    }

    /// As U-Boot leaves the GXBB AO UART: 115200 from the crystal, enabled, two-wire.
    fn running() -> Self {
        let mut fake = Self::new();
        fake.control = TX_EN | RX_EN | TWO_WIRE_EN;
        fake.reg5 = BAUD_USE | BAUD_XTAL | 68;
        fake
    }

    fn status(&mut self) -> u32 {
        self.status_reads += 1;
        if self.drain_period != 0
            && self.status_reads.is_multiple_of(self.drain_period)
            && self.control & TX_EN != 0
        {
            self.shifter = self.tx_fifo.pop_front();
        }
        let mut status = self.errors;
        if self.rx.is_empty() {
            status |= RX_EMPTY;
        }
        if self.tx_fifo.is_empty() {
            status |= TX_EMPTY;
        }
        if self.tx_fifo.len() >= FIFO_DEPTH {
            status |= TX_FULL;
        }
        if self.shifter.is_some() {
            status |= XMIT_BUSY;
        }
        status
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.rx.extend(bytes);
    }

    fn receive_with_error(&mut self, byte: u8, bits: u32) {
        self.rx.push_back(byte);
        self.errors |= bits;
    }
}

impl MesonRegs for FakeMeson {
    fn read32(&mut self, offset: usize) -> u32 {
        match offset {
            reg::RFIFO => {
                self.rfifo_reads += 1;
                let byte = self.rx.pop_front().map_or(0, u32::from);
                if let Some((n, late, bits)) = self.late_arrival {
                    if n == self.rfifo_reads {
                        self.receive_with_error(late, bits);
                    }
                }
                byte
            }
            reg::STATUS => self.status(),
            reg::CONTROL => self.control,
            reg::REG5 => self.reg5,
            _ => 0,
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        assert_eq!(offset % 4, 0, "unaligned register offset {offset:#x}");
        self.writes.push((offset, value));
        match offset {
            reg::WFIFO => {
                self.tx_log.push(value as u8);
                if self.tx_fifo.len() >= FIFO_DEPTH {
                    self.tx_overflows += 1;
                    self.errors |= TX_FIFO_WERR;
                } else {
                    self.tx_fifo.push_back(value as u8);
                }
            }
            reg::CONTROL => {
                if value & TX_RST != 0 {
                    self.fifo_len_at_reset = Some(self.tx_fifo.len());
                    self.tx_fifo.clear();
                    self.shifter = None;
                }
                if value & RX_RST != 0 {
                    self.rx.clear();
                }
                if value & CLEAR_ERR != 0 {
                    self.errors = 0;
                }
                self.control = value;
            }
            reg::REG5 => self.reg5 = value,
            _ => {}
        }
    }
}

fn ready_uart() -> MesonUart<FakeMeson> {
    let mut uart = MesonUart::with_spin_limit(FakeMeson::new(), 1000);
    uart.init(Some(XTAL_HZ), 115_200).unwrap();
    uart.regs.writes.clear();
    uart.regs.status_reads = 0;
    uart
}

#[test]
fn register_offsets_and_compatibles() {
    assert_eq!(
        [
            reg::WFIFO,
            reg::RFIFO,
            reg::CONTROL,
            reg::STATUS,
            reg::MISC,
            reg::REG5
        ],
        [0x00, 0x04, 0x08, 0x0C, 0x10, 0x14]
    );
    assert!(COMPATIBLES.contains(&"amlogic,meson-ao-uart"));
    assert!(has_xtal_div2("amlogic,meson-g12a-uart"));
    assert!(!has_xtal_div2("amlogic,meson-gx-uart"));
    assert!(!has_xtal_div2("amlogic,meson-ao-uart"));
}

/// Expect: REG5 = flags | USE | (round(counter / baud) - 1). By hand:
/// - crystal / 3 = 8 MHz, 115200: 69.44 -> 69, REG5 divisor 68 (115942 baud, 0.64 % fast);
/// - crystal / 2 = 12 MHz, 115200: 104.17 -> 104, divisor 103 (115385 baud);
/// - clk81 166_666_666 / 4 = 41_666_666, 115200: 361.69 -> 362, divisor 361;
/// - 8 MHz, 9600: 833.3 -> 833, divisor 832;
/// - 3 Mbaud: 8 MHz gives 2.67 -> 3 (11 % off: refused), 12 MHz gives exactly 4 -> 3.
#[test]
fn reg5_matches_the_formula() {
    assert_eq!(
        reg5_for_baud(XTAL_HZ, 115_200, false),
        Some(BAUD_XTAL | BAUD_USE | 68)
    );
    assert_eq!(
        reg5_for_baud(XTAL_HZ, 115_200, true),
        Some(BAUD_XTAL | BAUD_XTAL_DIV2 | BAUD_USE | 103)
    );
    assert_eq!(
        reg5_for_baud(166_666_666, 115_200, false),
        Some(BAUD_USE | 361)
    );
    assert_eq!(
        reg5_for_baud(166_666_666, 115_200, true),
        Some(BAUD_USE | 361),
        "div2 is for the crystal only"
    );
    assert_eq!(
        reg5_for_baud(XTAL_HZ, 9_600, false),
        Some(BAUD_XTAL | BAUD_USE | 832)
    );
    assert_eq!(reg5_for_baud(XTAL_HZ, 3_000_000, false), None);
    assert_eq!(
        reg5_for_baud(XTAL_HZ, 3_000_000, true),
        Some(BAUD_XTAL | BAUD_XTAL_DIV2 | BAUD_USE | 3)
    );
    assert_eq!(reg5_for_baud(XTAL_HZ, 0, false), None);
    assert_eq!(
        reg5_for_baud(XTAL_HZ, 20_000_000, false),
        None,
        "divisor rounds to 0"
    );
}

#[test]
fn new_touches_no_register() {
    let uart = MesonUart::new(FakeMeson::new());
    assert_eq!(uart.spin_limit(), DEFAULT_SPIN_LIMIT);
    let regs = uart.into_inner();
    assert!(regs.writes.is_empty());
    assert_eq!(regs.status_reads, 0);
}

/// Expect: drain, reset pulse (set then cleared), REG5, then 8N1 two-wire with interrupts off
/// and TX/RX on.
#[test]
fn init_programs_registers_in_order() {
    let mut fake = FakeMeson::running();
    fake.control |= RX_INT_EN | PARITY_EN | (1 << 16); // parity, 2 stop bits, RX interrupt
    fake.tx_fifo.extend(b"boot");
    fake.drain_period = 2;
    let mut uart = MesonUart::with_spin_limit(fake, 1000).with_xtal_div2(true);
    uart.init_console(Some(XTAL_HZ), Some(115_200)).unwrap();
    let regs = &uart.regs;
    let before = TX_EN | RX_EN | TWO_WIRE_EN | RX_INT_EN | PARITY_EN | (1 << 16);
    assert_eq!(
        regs.writes,
        [
            (reg::CONTROL, before | RX_RST | TX_RST | CLEAR_ERR),
            (reg::CONTROL, before),
            (reg::REG5, BAUD_XTAL | BAUD_XTAL_DIV2 | BAUD_USE | 103),
            (reg::CONTROL, TX_EN | RX_EN | TWO_WIRE_EN),
        ]
    );
    assert_eq!(regs.fifo_len_at_reset, Some(0), "boot output drained first");
    assert!(regs.tx_log.is_empty());
}

#[test]
fn take_over_keeps_the_boot_loaders_rate() {
    let mut uart = MesonUart::with_spin_limit(FakeMeson::running(), 1000);
    uart.regs.tx_fifo.extend(b"boot");
    uart.regs.drain_period = 0;
    uart.init_console(Some(XTAL_HZ), None).unwrap();
    assert!(
        uart.regs.writes.is_empty(),
        "already enabled, no interrupts: nothing to write"
    );
    assert_eq!(uart.regs.tx_fifo.len(), 4);

    let mut fake = FakeMeson::running();
    fake.control = TWO_WIRE_EN | TX_INT_EN; // transmitter off, as after a reset
    let mut uart = MesonUart::with_spin_limit(fake, 1000);
    uart.take_over();
    assert_eq!(
        uart.regs.writes,
        [(reg::CONTROL, TWO_WIRE_EN | TX_EN | RX_EN)]
    );
    assert_eq!(uart.regs.reg5, BAUD_USE | BAUD_XTAL | 68);
}

#[test]
fn init_without_a_clock_or_with_an_impossible_baud_touches_nothing() {
    let mut uart = MesonUart::new(FakeMeson::running());
    assert_eq!(uart.init_console(None, Some(115_200)), Err(Error::NoClock));
    assert_eq!(uart.init(Some(XTAL_HZ), 3_000_000), Err(Error::InvalidBaud));
    assert!(uart.regs.writes.is_empty());
    assert_eq!(uart.regs.status_reads, 0);
    assert_eq!(Error::NoClock.kind(), ErrorKind::InvalidInput);
    assert!(std::format!("{}", Error::NoClock).contains("clock frequency is unknown"));
}

#[test]
fn written_bytes_reach_wfifo_in_order_without_overflowing() {
    let mut uart = ready_uart();
    uart.regs.drain_period = 3;
    let msg: Vec<u8> = (0..=255u8).cycle().take(300).collect();
    uart.write_all(&msg).unwrap();
    uart.flush().unwrap();
    assert_eq!(uart.regs.tx_log, msg);
    assert_eq!(uart.regs.tx_overflows, 0);
    assert!(uart.regs.tx_fifo.is_empty() && uart.regs.shifter.is_none());
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
fn flush_waits_for_xmit_busy_not_just_an_empty_fifo() {
    let mut uart = ready_uart();
    uart.regs.drain_period = 10;
    uart.write_all(b"ab").unwrap();
    uart.flush().unwrap();
    assert!(
        uart.regs.status_reads >= 30,
        "flush returned while XMIT_BUSY"
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
fn receive_errors_drop_the_bad_character_and_are_cleared() {
    for (bits, expected) in [
        (FRAME_ERR, Error::Framing),
        (PARITY_ERR, Error::Parity),
        (FRAME_ERR | PARITY_ERR, Error::Framing),
    ] {
        let mut uart = ready_uart();
        uart.regs.receive_with_error(0xEE, bits);
        uart.regs.receive(b"k");
        assert_eq!(uart.try_read_byte(), Err(expected), "{bits:#x}");
        assert_eq!(uart.regs.errors, 0, "CLEAR_ERR pulsed");
        assert_eq!(uart.regs.control & CLEAR_ERR, 0, "and released");
        assert_eq!(uart.try_read_byte(), Ok(Some(b'k')), "{bits:#x}");
    }
    assert_eq!(Error::Parity.kind(), ErrorKind::InvalidData);
    assert_eq!(Error::Framing.kind(), ErrorKind::InvalidData);
}

#[test]
fn error_after_first_byte_is_deferred_to_the_next_read() {
    let mut uart = ready_uart();
    uart.regs.receive(b"ab");
    uart.regs.late_arrival = Some((2, 0xEE, FRAME_ERR));
    let mut buf = [0u8; 8];
    assert_eq!(uart.read(&mut buf), Ok(2));
    assert_eq!(&buf[..2], b"ab");
    uart.regs.receive(b"c");
    assert_eq!(uart.read_ready(), Ok(true));
    assert_eq!(uart.read(&mut buf), Err(Error::Framing));
    assert_eq!(uart.read(&mut buf), Ok(1));
    assert_eq!(buf[0], b'c');
}

#[test]
fn works_through_a_mutable_reference() {
    let mut fake = FakeMeson::new();
    {
        let mut uart = MesonUart::with_spin_limit(&mut fake, 1000);
        uart.init(Some(XTAL_HZ), 115_200).unwrap();
        uart.write_all(b"ok").unwrap();
    }
    assert_eq!(fake.tx_log, b"ok");
    assert_eq!(fake.reg5, BAUD_XTAL | BAUD_USE | 68);
}
