//! Host tests against a bus-level model of the Cadence UART.

extern crate std;

use super::*;
use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write, WriteReady};
use std::collections::VecDeque;
use std::vec::Vec;

/// A bus-level model of a Cadence UART (r1p8).
///
/// ```text
///  FIFO write ──► tx_fifo (64) ──► shifter ──► gone
///                 one step right every `drain_period` SR reads, while TX is enabled
///  rx queue ──► FIFO read; SR.RXEMPTY = queue empty
///  `receive_with_error` sets ISR error bits as the character arrives (write 1 to clear)
///  CR.TXRST/RXRST: empty the FIFOs and read back set for `reset_reads` CR reads
/// ```
struct FakeCadence {
    regs: [u32; 16],
    writes: Vec<(usize, u32)>,
    tx_log: Vec<u8>,
    tx_fifo: VecDeque<u8>,
    shifter: Option<u8>,
    tx_overflows: usize,
    drain_period: u32,
    sr_reads: u32,
    rx: VecDeque<u8>,
    isr: u32,
    reset_reads: u32,
    /// TX FIFO length when CR last disabled the transmitter.
    fifo_len_at_disable: Option<usize>,
    fifo_reads: u32,
    /// `(n, byte, isr_bits)`: `byte` arrives, raising `isr_bits`, at the `n`th FIFO read.
    late_arrival: Option<(u32, u8, u32)>,
}

impl FakeCadence {
    fn new() -> Self {
        Self {
            regs: [0; 16],
            writes: Vec::new(),
            tx_log: Vec::new(),
            tx_fifo: VecDeque::new(),
            shifter: None,
            tx_overflows: 0,
            drain_period: 1,
            sr_reads: 0,
            rx: VecDeque::new(),
            isr: 0,
            reset_reads: 2,
            fifo_len_at_disable: None,
            fifo_reads: 0,
            late_arrival: None,
        }
    }

    /// As a boot loader leaves it: enabled at 115200 from 100 MHz.
    fn running() -> Self {
        let mut fake = Self::new();
        fake.regs[reg::CR / 4] = CR_TX_EN | CR_RX_EN | CR_STOPBRK;
        fake.regs[reg::MR / 4] = MR_PARITY_NONE;
        fake.regs[reg::BAUDGEN / 4] = 124;
        fake.regs[reg::BAUDDIV / 4] = 6;
        fake
    }

    fn get(&self, offset: usize) -> u32 {
        self.regs[offset / 4]
    }

    fn tx_enabled(&self) -> bool {
        let cr = self.get(reg::CR);
        cr & CR_TX_EN != 0 && cr & CR_TX_DIS == 0
    }

    fn sr(&mut self) -> u32 {
        self.sr_reads += 1;
        if self.drain_period != 0
            && self.sr_reads.is_multiple_of(self.drain_period)
            && self.tx_enabled()
        {
            self.shifter = self.tx_fifo.pop_front();
        }
        let mut sr = 0;
        if self.rx.is_empty() {
            sr |= SR_RXEMPTY;
        }
        if self.tx_fifo.is_empty() {
            sr |= SR_TXEMPTY;
        }
        if self.tx_fifo.len() >= FIFO_DEPTH {
            sr |= SR_TXFULL;
        }
        if self.shifter.is_some() {
            sr |= SR_TACTIVE;
        }
        sr
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.rx.extend(bytes);
    }

    fn receive_with_error(&mut self, byte: u8, isr_bits: u32) {
        self.rx.push_back(byte);
        self.isr |= isr_bits;
    }
}

impl CadenceRegs for FakeCadence {
    fn read32(&mut self, offset: usize) -> u32 {
        match offset {
            reg::FIFO => {
                self.fifo_reads += 1;
                let byte = self.rx.pop_front().map_or(0, u32::from);
                if let Some((n, late, bits)) = self.late_arrival {
                    if n == self.fifo_reads {
                        self.receive_with_error(late, bits);
                    }
                }
                byte
            }
            reg::SR => self.sr(),
            reg::ISR => self.isr,
            reg::CR => {
                let cr = self.get(reg::CR);
                if cr & (CR_TXRST | CR_RXRST) != 0 {
                    if self.reset_reads == 0 {
                        self.regs[reg::CR / 4] &= !(CR_TXRST | CR_RXRST);
                    } else {
                        self.reset_reads -= 1;
                    }
                }
                cr
            }
            reg::IER | reg::IDR => 0, // write-only
            _ => self.get(offset),
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        assert_eq!(offset % 4, 0, "unaligned register offset {offset:#x}");
        self.writes.push((offset, value));
        match offset {
            reg::FIFO => {
                self.tx_log.push(value as u8);
                if self.tx_fifo.len() >= FIFO_DEPTH {
                    self.tx_overflows += 1;
                } else {
                    self.tx_fifo.push_back(value as u8);
                }
            }
            reg::ISR => self.isr &= !value,
            reg::IER => self.regs[reg::IMR / 4] |= value,
            reg::IDR => self.regs[reg::IMR / 4] &= !value,
            reg::SR | reg::IMR => {} // read-only
            reg::CR => {
                if value & CR_TXRST != 0 {
                    self.tx_fifo.clear();
                    self.shifter = None;
                }
                if value & CR_RXRST != 0 {
                    self.rx.clear();
                }
                if value & CR_TX_DIS != 0 {
                    self.fifo_len_at_disable = Some(self.tx_fifo.len());
                }
                self.regs[reg::CR / 4] = value;
            }
            _ => self.regs[offset / 4] = value,
        }
    }
}

fn ready_uart() -> CadenceUart<FakeCadence> {
    let mut uart = CadenceUart::with_spin_limit(FakeCadence::new(), 1000);
    uart.init(Some(100_000_000), 115_200).unwrap();
    uart.regs.writes.clear();
    uart.regs.sr_reads = 0;
    uart
}

#[test]
fn register_offsets_match_the_trm() {
    assert_eq!(
        [reg::CR, reg::MR, reg::IER, reg::IDR, reg::IMR, reg::ISR],
        [0x00, 0x04, 0x08, 0x0C, 0x10, 0x14]
    );
    assert_eq!(
        [reg::BAUDGEN, reg::SR, reg::FIFO, reg::BAUDDIV],
        [0x18, 0x2C, 0x30, 0x34]
    );
    assert!(COMPATIBLES.contains(&"cdns,uart-r1p8"));
    assert!(COMPATIBLES.contains(&"cdns,uart-r1p12"));
}

/// Expect: the Linux search's choice. Figures checked by hand against
/// `baud = clk / (CD * (BDIV + 1))`:
/// - 100 MHz, 115200: CD 124, BDIV 6: 100e6 / 868 = 115207 (UG585 table 19-1 gives the same
///   pair for its 100 MHz example);
/// - 50 MHz: CD 62, BDIV 6: 50e6 / 434 = 115207;
/// - 100 MHz, 9600: CD 1736, BDIV 5: 100e6 / 10416 = 9600.6;
/// - 33.333 MHz (Zynq PS_CLK as ref): CD 17, BDIV 16: 33_333_333 / 289 = 115340 (0.12 %);
/// - 100 MHz, 4 baud: below 100e6 / (256 * 65535) = 5.96, so CLKSEL: 12.5 MHz / (65104 * 48) = 4.
#[test]
fn baud_divisors_follow_the_linux_search() {
    let d = |cd, bdiv, clk_div8| Some(BaudDivisors { cd, bdiv, clk_div8 });
    assert_eq!(baud_divisors(100_000_000, 115_200), d(124, 6, false));
    assert_eq!(baud_divisors(50_000_000, 115_200), d(62, 6, false));
    assert_eq!(baud_divisors(100_000_000, 9_600), d(1736, 5, false));
    assert_eq!(baud_divisors(33_333_333, 115_200), d(17, 16, false));
    assert_eq!(baud_divisors(100_000_000, 4), d(65104, 47, true));
    for (clk, baud) in [
        (100_000_000, 115_200),
        (33_333_333, 115_200),
        (100_000_000, 4),
    ] {
        let div = baud_divisors(clk, baud).unwrap();
        let actual = div.baud(clk);
        assert!(
            actual.abs_diff(baud) * 100 < 3 * baud,
            "{clk} {baud}: {actual}"
        );
    }
    assert_eq!(baud_divisors(100_000_000, 0), None);
    // 1 MHz cannot make 115200: the best, CD 1 BDIV 8, gives 111111 (3.5 % off).
    assert_eq!(baud_divisors(1_000_000, 115_200), None);
    // Too fast for BDIV >= 4 with CD >= 1.
    assert_eq!(baud_divisors(1_000_000, 1_000_000), None);
}

#[test]
fn new_touches_no_register() {
    let uart = CadenceUart::new(FakeCadence::new());
    assert_eq!(uart.spin_limit(), DEFAULT_SPIN_LIMIT);
    let regs = uart.into_inner();
    assert!(regs.writes.is_empty());
    assert_eq!(regs.sr_reads, 0);
}

/// Expect: drain, disable, reset both paths (waiting for the self-clear), 8N1, CD, BDIV,
/// interrupts off and cleared, enable.
#[test]
fn init_programs_registers_in_order() {
    let mut fake = FakeCadence::running();
    fake.tx_fifo.extend(b"boot");
    fake.drain_period = 2;
    let mut uart = CadenceUart::with_spin_limit(fake, 1000);
    uart.init_console(Some(100_000_000), Some(9_600)).unwrap();
    let regs = &uart.regs;
    assert_eq!(
        regs.writes,
        [
            (reg::CR, CR_TX_DIS | CR_RX_DIS),
            (reg::CR, CR_TX_DIS | CR_RX_DIS | CR_TXRST | CR_RXRST),
            (reg::MR, MR_PARITY_NONE),
            (reg::BAUDGEN, 1736),
            (reg::BAUDDIV, 5),
            (reg::IDR, IXR_ALL),
            (reg::ISR, IXR_ALL),
            (reg::CR, CR_TX_EN | CR_RX_EN | CR_STOPBRK),
        ]
    );
    assert_eq!(
        regs.fifo_len_at_disable,
        Some(0),
        "boot output drained first"
    );
    assert_eq!(regs.tx_log, b"", "no byte written by init");
    assert_eq!(regs.get(reg::IMR), 0);
    assert_eq!(
        regs.get(reg::CR) & (CR_TXRST | CR_RXRST),
        0,
        "reset finished"
    );
}

#[test]
fn init_with_the_prescaler_sets_clksel() {
    let mut uart = CadenceUart::with_spin_limit(FakeCadence::new(), 1000);
    uart.init(Some(100_000_000), 4).unwrap();
    assert_eq!(uart.regs.get(reg::MR), MR_PARITY_NONE | MR_CLKSEL);
    assert_eq!(uart.regs.get(reg::BAUDGEN), 65104);
    assert_eq!(uart.regs.get(reg::BAUDDIV), 47);
}

/// Expect: taking over keeps MR and the divisors, masks and clears interrupts, and writes CR
/// only to turn on a transmitter the boot loader left off.
#[test]
fn take_over_keeps_the_boot_loaders_divisors() {
    let mut uart = CadenceUart::with_spin_limit(FakeCadence::running(), 1000);
    uart.regs.regs[reg::IMR / 4] = IXR_ALL;
    uart.regs.isr = IXR_OVERRUN;
    uart.regs.tx_fifo.extend(b"boot");
    uart.init_console(Some(100_000_000), None).unwrap();
    let regs = &uart.regs;
    assert_eq!(regs.writes, [(reg::IDR, IXR_ALL), (reg::ISR, IXR_ALL)]);
    assert_eq!((regs.get(reg::BAUDGEN), regs.get(reg::BAUDDIV)), (124, 6));
    assert_eq!(regs.get(reg::IMR), 0);
    assert_eq!(regs.isr, 0);
    assert_eq!(regs.tx_fifo.len(), 4, "queued output kept");

    let mut off = FakeCadence::running();
    off.regs[reg::CR / 4] = CR_TX_DIS | CR_RX_DIS | CR_STOPBRK;
    let mut uart = CadenceUart::with_spin_limit(off, 1000);
    uart.take_over();
    assert_eq!(uart.regs.get(reg::CR), CR_TX_EN | CR_RX_EN | CR_STOPBRK);
    assert_eq!(uart.regs.get(reg::BAUDGEN), 124);
}

#[test]
fn init_without_a_clock_or_with_an_impossible_baud_touches_nothing() {
    let mut uart = CadenceUart::new(FakeCadence::running());
    assert_eq!(uart.init_console(None, Some(115_200)), Err(Error::NoClock));
    assert_eq!(uart.init(Some(1_000_000), 115_200), Err(Error::InvalidBaud));
    assert_eq!(uart.init(Some(100_000_000), 0), Err(Error::InvalidBaud));
    assert!(uart.regs.writes.is_empty());
    assert_eq!(uart.regs.sr_reads, 0);
    assert_eq!(Error::NoClock.kind(), ErrorKind::InvalidInput);
    assert!(std::format!("{}", Error::NoClock).contains("clock frequency is unknown"));
}

/// Expect: a wedged reset (TXRST never self-clears) costs `spin_limit` CR reads, not a hang.
#[test]
fn init_with_a_stuck_reset_is_bounded() {
    let mut fake = FakeCadence::running();
    fake.reset_reads = u32::MAX;
    let mut uart = CadenceUart::with_spin_limit(fake, 50);
    uart.init(Some(100_000_000), 115_200).unwrap();
    assert_eq!(
        uart.regs.reset_reads,
        u32::MAX - 50,
        "exactly spin_limit polls of CR"
    );
    assert_eq!(uart.regs.get(reg::BAUDGEN), 124);
}

#[test]
fn written_bytes_reach_the_fifo_in_order_without_overflowing() {
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
    assert!(uart.regs.sr_reads >= 20, "wrote into a full FIFO");
    assert_eq!(uart.regs.tx_overflows, 0);
}

/// Expect: a FIFO that never drains costs exactly `spin_limit` SR polls, then `TimedOut`.
#[test]
fn full_fifo_times_out_after_spin_limit_polls() {
    let mut uart = ready_uart();
    uart.spin_limit = 25;
    uart.regs.drain_period = 0;
    uart.regs.tx_fifo.extend([0u8; FIFO_DEPTH]);
    assert_eq!(uart.write_byte(1), Err(Error::Timeout));
    assert_eq!(uart.regs.sr_reads, 25);
    assert_eq!(uart.write(b"abc"), Err(Error::Timeout));
    assert_eq!(uart.regs.sr_reads, 50);
    assert_eq!(uart.flush(), Err(Error::Timeout));
    assert_eq!(uart.regs.sr_reads, 75);
    assert!(uart.regs.tx_log.is_empty());
    assert_eq!(Error::Timeout.kind(), ErrorKind::TimedOut);
}

#[test]
fn flush_waits_for_the_shifter_not_just_an_empty_fifo() {
    let mut uart = ready_uart();
    uart.regs.drain_period = 10;
    uart.write_all(b"ab").unwrap();
    uart.flush().unwrap();
    // 'a' reaches the shifter at poll 10, 'b' at 20, the shifter empties at 30.
    assert!(uart.regs.sr_reads >= 30, "flush returned while TACTIVE");
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
    for (byte, bits, expected) in [
        (0xEE, IXR_FRAMING, Error::Framing),
        (0xEE, IXR_PARITY, Error::Parity),
        (0x00, IXR_FRAMING, Error::Break),
    ] {
        let mut uart = ready_uart();
        uart.regs.receive_with_error(byte, bits);
        uart.regs.receive(b"k");
        assert_eq!(uart.try_read_byte(), Err(expected), "{bits:#x}");
        assert_eq!(uart.regs.isr, 0, "ISR cleared");
        assert_eq!(uart.try_read_byte(), Ok(Some(b'k')), "{bits:#x}");
    }
    assert_eq!(Error::Parity.kind(), ErrorKind::InvalidData);
    assert_eq!(Error::Break.kind(), ErrorKind::Other);
}

#[test]
fn overrun_is_reported_then_its_good_byte_returned() {
    let mut uart = ready_uart();
    uart.regs.receive_with_error(b'a', IXR_OVERRUN);
    uart.regs.receive(b"b");
    let mut buf = [0u8; 4];
    assert_eq!(uart.read(&mut buf), Err(Error::Overrun));
    assert_eq!(uart.read_ready(), Ok(true));
    assert_eq!(uart.read(&mut buf), Ok(2));
    assert_eq!(&buf[..2], b"ab");
}

/// Expect: a character with a parity error arrives while `read` is collecting bytes; the error
/// ends the read and is returned by the next one. ISR is not per character, so (as in Linux)
/// the error is charged to the character read after it was raised, here 'b'.
#[test]
fn error_after_first_byte_is_deferred_to_the_next_read() {
    let mut uart = ready_uart();
    uart.regs.receive(b"ab");
    uart.regs.late_arrival = Some((1, b'c', IXR_PARITY));
    let mut buf = [0u8; 8];
    assert_eq!(uart.read(&mut buf), Ok(1));
    assert_eq!(buf[0], b'a');
    assert_eq!(uart.read_ready(), Ok(true));
    assert_eq!(uart.read(&mut buf), Err(Error::Parity));
    assert_eq!(uart.read(&mut buf), Ok(1));
    assert_eq!(buf[0], b'c');
}

#[test]
fn works_through_a_mutable_reference() {
    let mut fake = FakeCadence::new();
    {
        let mut uart = CadenceUart::with_spin_limit(&mut fake, 1000);
        uart.init(Some(50_000_000), 115_200).unwrap();
        uart.write_all(b"ok").unwrap();
    }
    assert_eq!(fake.tx_log, b"ok");
    assert_eq!(fake.get(reg::BAUDGEN), 62);
}
