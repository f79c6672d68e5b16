//! Host tests against a bus-level model of the i.MX UART.

extern crate std;

use super::*;
use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write, WriteReady};
use std::collections::VecDeque;
use std::vec::Vec;

/// A bus-level model of an i.MX21-style UART.
///
/// ```text
///  UTXD write ──► tx_fifo (32) ──► shifter ──► gone
///                 one step right every `drain_period` status reads (UTS, USR2),
///                 only while UCR1.UARTEN and UCR2.TXEN
///  rx queue (byte | URXD status bits) ──► URXD read (CHARRDY added); USR2.RDR = non-empty
///  UCR2.SRST written 0: FIFOs, UBIR, UBMR reset; SRST reads 0 for `reset_reads` reads
///  UBMR write: latches (UBIR, UBMR) into the rate multiplier
/// ```
struct FakeImx {
    regs: [u32; 64],
    writes: Vec<(usize, u32)>,
    tx_log: Vec<u8>,
    tx_fifo: VecDeque<u8>,
    shifter: Option<u8>,
    tx_overflows: usize,
    drain_period: u32,
    status_reads: u32,
    rx: VecDeque<u32>,
    reset_reads: u32,
    in_reset: bool,
    latched_brm: (u32, u32),
    fifo_len_at_disable: Option<usize>,
}

impl FakeImx {
    fn new() -> Self {
        Self {
            regs: [0; 64],
            writes: Vec::new(),
            tx_log: Vec::new(),
            tx_fifo: VecDeque::new(),
            shifter: None,
            tx_overflows: 0,
            drain_period: 1,
            status_reads: 0,
            rx: VecDeque::new(),
            reset_reads: 2,
            in_reset: false,
            latched_brm: (0, 0),
            fifo_len_at_disable: None,
        }
    }

    /// As a boot loader leaves it: 115200 from 80 MHz, enabled, RX interrupt on, DTE mode.
    fn running() -> Self {
        let mut fake = Self::new();
        fake.regs[reg::UCR1 / 4] = UCR1_UARTEN | (1 << 9); // RRDYEN
        fake.regs[reg::UCR2 / 4] = UCR2_SRST | UCR2_IRTS | UCR2_WS | UCR2_TXEN | UCR2_RXEN;
        fake.regs[reg::UCR3 / 4] = UCR3_RXDMUXSEL | UCR3_ADNIMP;
        fake.regs[reg::UCR4 / 4] = 0x8000; // CTSTL = 32
        fake.regs[reg::UFCR / 4] = UFCR_DCEDTE | ufcr_rfdiv(7) | (2 << 10) | 1;
        fake.regs[reg::UBIR / 4] = 503;
        fake.regs[reg::UBMR / 4] = 3124;
        fake.latched_brm = (503, 3124);
        fake
    }

    fn get(&self, offset: usize) -> u32 {
        self.regs[offset / 4]
    }

    fn transmitting(&self) -> bool {
        self.get(reg::UCR1) & UCR1_UARTEN != 0 && self.get(reg::UCR2) & UCR2_TXEN != 0
    }

    fn tick(&mut self) {
        self.status_reads += 1;
        if self.drain_period != 0
            && self.status_reads.is_multiple_of(self.drain_period)
            && self.transmitting()
        {
            self.shifter = self.tx_fifo.pop_front();
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.rx.extend(bytes.iter().map(|&b| u32::from(b)));
    }

    fn receive_with(&mut self, byte: u8, status: u32) {
        self.rx.push_back(u32::from(byte) | status | URXD_ERR);
    }
}

impl ImxRegs for FakeImx {
    fn read32(&mut self, offset: usize) -> u32 {
        match offset {
            reg::URXD => self.rx.pop_front().map_or(0, |v| v | URXD_CHARRDY),
            reg::UTXD => 0,
            reg::UTS => {
                self.tick();
                let mut uts = 0;
                if self.tx_fifo.len() >= FIFO_DEPTH {
                    uts |= UTS_TXFULL;
                }
                if self.tx_fifo.is_empty() {
                    uts |= UTS_TXEMPTY;
                }
                if self.rx.is_empty() {
                    uts |= UTS_RXEMPTY;
                }
                uts
            }
            reg::USR2 => {
                self.tick();
                let mut usr2 = 0;
                if !self.rx.is_empty() {
                    usr2 |= USR2_RDR;
                }
                if self.tx_fifo.is_empty() && self.shifter.is_none() {
                    usr2 |= USR2_TXDC;
                }
                usr2
            }
            reg::UCR2 if self.in_reset => {
                if self.reset_reads == 0 {
                    self.in_reset = false;
                    self.regs[reg::UCR2 / 4] |= UCR2_SRST;
                } else {
                    self.reset_reads -= 1;
                }
                self.get(reg::UCR2)
            }
            _ => self.get(offset),
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        assert_eq!(offset % 4, 0, "unaligned register offset {offset:#x}");
        assert!(offset < 0x100, "outside the register block: {offset:#x}");
        self.writes.push((offset, value));
        match offset {
            reg::UTXD => {
                self.tx_log.push(value as u8);
                if self.tx_fifo.len() >= FIFO_DEPTH {
                    self.tx_overflows += 1;
                } else {
                    self.tx_fifo.push_back(value as u8);
                }
            }
            reg::URXD | reg::UTS | reg::USR2 => {}
            reg::UCR1 => {
                if value & UCR1_UARTEN == 0 {
                    self.fifo_len_at_disable = Some(self.tx_fifo.len());
                }
                self.regs[offset / 4] = value;
            }
            reg::UCR2 => {
                if value & UCR2_SRST == 0 {
                    self.in_reset = true;
                    self.tx_fifo.clear();
                    self.shifter = None;
                    self.rx.clear();
                    self.regs[reg::UBIR / 4] = 0;
                    self.regs[reg::UBMR / 4] = 0;
                }
                self.regs[offset / 4] = value;
            }
            reg::UBMR => {
                self.regs[offset / 4] = value;
                self.latched_brm = (self.get(reg::UBIR), value);
            }
            _ => self.regs[offset / 4] = value,
        }
    }
}

fn ready_uart() -> ImxUart<FakeImx> {
    let mut uart = ImxUart::with_spin_limit(FakeImx::new(), 1000);
    uart.init(Some(80_000_000), 115_200).unwrap();
    uart.regs.writes.clear();
    uart.regs.status_reads = 0;
    uart
}

#[test]
fn register_offsets_match_the_reference_manual() {
    assert_eq!(
        [
            reg::URXD,
            reg::UTXD,
            reg::UCR1,
            reg::UCR2,
            reg::UCR3,
            reg::UCR4
        ],
        [0x00, 0x40, 0x80, 0x84, 0x88, 0x8C]
    );
    assert_eq!(
        [reg::UFCR, reg::USR1, reg::USR2, reg::UBIR, reg::UBMR],
        [0x90, 0x94, 0x98, 0xA4, 0xA8]
    );
    assert_eq!([reg::ONEMS, reg::UTS], [0xB0, 0xB4]);
    assert_eq!(COMPATIBLES, ["fsl,imx21-uart", "fsl,imx6q-uart"]);
}

#[test]
fn rfdiv_encoding_matches_the_manual() {
    // RFDIV field: 000 = /6, 001 = /5, 010 = /4, 011 = /3, 100 = /2, 101 = /1, 110 = /7.
    let fields: Vec<u32> = (1..=7).map(|d| ufcr_rfdiv(d) >> 7).collect();
    assert_eq!(fields, [0b101, 0b100, 0b011, 0b010, 0b001, 0b000, 0b110]);
}

/// Expect: RFDIV = clk / (16 * baud) clamped to 1..=7, then (UBIR+1)/(UBMR+1) =
/// 16 * RFDIV * baud / clk, reduced. By hand:
/// - 80 MHz, 115200: RFDIV 7 (43 clamped); 12_902_400 / 80_000_000 = 504 / 3125 -> UBIR 503,
///   UBMR 3124; ONEMS = 80e6 / 7 / 1000 = 11428;
/// - 24 MHz, 115200: RFDIV 7; 12_902_400 / 24_000_000 = 336 / 625 -> 335, 624;
/// - 25 MHz (i.MX8M), 115200: RFDIV 7; 12_902_400 / 25_000_000 = 8064 / 15625 -> 8063, 15624;
/// - 80 MHz, 2 Mbaud: RFDIV 2; 64_000_000 / 80_000_000 = 4 / 5 -> 3, 4;
/// - 80 MHz, 1_234_567: RFDIV 4; 79_012_288 / 80_000_000 reduces to 2_469_134 / 2_500_000,
///   too large; the best fraction with terms <= 65536 (found by trying every denominator) is
///   50717 / 51351 -> 50716, 51350, which gives 1_234_566.99 baud.
#[test]
fn baud_settings_match_the_formula() {
    let s = |rfdiv, ubir, ubmr| Some(BaudSettings { rfdiv, ubir, ubmr });
    assert_eq!(baud_settings(80_000_000, 115_200), s(7, 503, 3124));
    assert_eq!(baud_settings(24_000_000, 115_200), s(7, 335, 624));
    assert_eq!(baud_settings(25_000_000, 115_200), s(7, 8063, 15624));
    assert_eq!(baud_settings(80_000_000, 2_000_000), s(2, 3, 4));
    assert_eq!(baud_settings(80_000_000, 1_234_567), s(4, 50716, 51350));
    assert_eq!(
        baud_settings(80_000_000, 115_200)
            .unwrap()
            .onems(80_000_000),
        11428
    );
    for (clk, baud) in [
        (80_000_000, 115_200),
        (25_000_000, 115_200),
        (80_000_000, 1_234_567),
    ] {
        let actual = baud_settings(clk, baud).unwrap().baud(clk);
        assert!(actual.abs_diff(baud) <= 1, "{clk} {baud}: {actual}");
    }
    assert_eq!(baud_settings(80_000_000, 0), None);
    assert_eq!(baud_settings(5_000_000, 4_000_000), None, "above clk / 16");
}

#[test]
fn rational_best_approximation_matches_lib_rational() {
    // Exact when the reduced fraction fits.
    assert_eq!(
        rational_best_approximation(12_902_400, 80_000_000, 1 << 16, 1 << 16),
        (504, 3125)
    );
    // pi to 4 digits of denominator: 355/113 is the best with denominator <= 1000.
    assert_eq!(
        rational_best_approximation(3_141_592_653, 1_000_000_000, 1000, 1000),
        (355, 113)
    );
    // A semi-convergent: with both terms <= 2 the candidates for 1/3 are 0/1 (1/3 off), 1/2
    // (1/6 off) and 1/1; the convergent 0/1 loses to the semi-convergent 1/2.
    assert_eq!(rational_best_approximation(1, 3, 2, 2), (1, 2));
}

#[test]
fn new_touches_no_register() {
    let uart = ImxUart::new(FakeImx::new());
    assert_eq!(uart.spin_limit(), DEFAULT_SPIN_LIMIT);
    let regs = uart.into_inner();
    assert!(regs.writes.is_empty());
    assert_eq!(regs.status_reads, 0);
}

/// Expect: drain, disable, software reset (waiting for SRST), UCR3/UCR4 interrupts off, UFCR with
/// RFDIV and the boot loader's DTE bit, UBIR before UBMR, ONEMS, 8N1 enabled, UARTEN last.
#[test]
fn init_programs_registers_in_order() {
    let mut fake = FakeImx::running();
    fake.regs[reg::UCR4 / 4] |= 1; // DREN left on
    fake.tx_fifo.extend(b"boot");
    fake.drain_period = 2;
    let mut uart = ImxUart::with_spin_limit(fake, 1000);
    uart.init_console(Some(24_000_000), Some(115_200)).unwrap();
    let regs = &uart.regs;
    assert_eq!(
        regs.writes,
        [
            (reg::UCR1, 0),
            (reg::UCR2, 0),
            (reg::UCR4, 0x8000),
            (reg::UFCR, UFCR_DCEDTE | ufcr_rfdiv(7) | (2 << 10) | 1),
            (reg::UBIR, 335),
            (reg::UBMR, 624),
            (reg::ONEMS, 3428),
            (
                reg::UCR2,
                UCR2_SRST | UCR2_IRTS | UCR2_WS | UCR2_TXEN | UCR2_RXEN
            ),
            (reg::UCR1, UCR1_UARTEN),
        ]
    );
    assert_eq!(
        regs.fifo_len_at_disable,
        Some(0),
        "boot output drained first"
    );
    assert_eq!(regs.latched_brm, (335, 624));
    assert!(!regs.in_reset);
}

#[test]
fn init_sets_rxdmuxsel_and_clears_ucr3_interrupts() {
    let mut fake = FakeImx::new();
    fake.regs[reg::UCR3 / 4] = (1 << 11) | (1 << 4); // FRAERREN, AWAKEN
    let mut uart = ImxUart::with_spin_limit(fake, 1000);
    uart.init(Some(80_000_000), 115_200).unwrap();
    assert_eq!(uart.regs.get(reg::UCR3), UCR3_RXDMUXSEL | UCR3_ADNIMP);
    assert_eq!(uart.regs.latched_brm, (503, 3124));
    assert_eq!(uart.regs.get(reg::ONEMS), 11428);
}

/// Expect: taking over keeps UFCR, UBIR and UBMR; only the interrupt enables change (RRDYEN
/// here), and UCRs already right are not written.
#[test]
fn take_over_keeps_the_boot_loaders_rate() {
    let mut uart = ImxUart::with_spin_limit(FakeImx::running(), 1000);
    uart.regs.tx_fifo.extend(b"boot");
    uart.regs.drain_period = 0;
    uart.init_console(Some(80_000_000), None).unwrap();
    let regs = &uart.regs;
    assert_eq!(regs.writes, [(reg::UCR1, UCR1_UARTEN)]);
    assert_eq!(regs.latched_brm, (503, 3124));
    assert_eq!(regs.tx_fifo.len(), 4, "queued output kept");

    let mut off = FakeImx::running();
    off.regs[reg::UCR1 / 4] = 0;
    off.regs[reg::UCR2 / 4] &= !(UCR2_TXEN | UCR2_RXEN);
    let mut uart = ImxUart::with_spin_limit(off, 1000);
    uart.take_over();
    assert_eq!(uart.regs.get(reg::UCR1), UCR1_UARTEN);
    assert_eq!(
        uart.regs.get(reg::UCR2) & (UCR2_TXEN | UCR2_RXEN),
        UCR2_TXEN | UCR2_RXEN
    );
    assert_eq!(uart.regs.get(reg::UBMR), 3124);
}

#[test]
fn init_without_a_clock_or_with_an_impossible_baud_touches_nothing() {
    let mut uart = ImxUart::new(FakeImx::running());
    assert_eq!(uart.init_console(None, Some(115_200)), Err(Error::NoClock));
    assert_eq!(
        uart.init(Some(5_000_000), 4_000_000),
        Err(Error::InvalidBaud)
    );
    assert!(uart.regs.writes.is_empty());
    assert_eq!(uart.regs.status_reads, 0);
    assert_eq!(Error::NoClock.kind(), ErrorKind::InvalidInput);
    assert!(std::format!("{}", Error::NoClock).contains("clock frequency is unknown"));
}

#[test]
fn init_with_a_stuck_reset_is_bounded() {
    let mut fake = FakeImx::running();
    fake.reset_reads = u32::MAX;
    let mut uart = ImxUart::with_spin_limit(fake, 50);
    uart.init(Some(80_000_000), 115_200).unwrap();
    assert_eq!(
        uart.regs.reset_reads,
        u32::MAX - 50,
        "exactly spin_limit polls of UCR2"
    );
}

#[test]
fn written_bytes_reach_utxd_in_order_without_overflowing() {
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
    assert_eq!(uart.write(&[1u8; 50]), Ok(FIFO_DEPTH));
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
fn flush_waits_for_txdc_not_just_an_empty_fifo() {
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
fn error_flags_in_urxd_drop_the_bad_character() {
    for (flags, expected) in [
        (URXD_FRMERR, Error::Framing),
        (URXD_PRERR, Error::Parity),
        (URXD_BRK | URXD_FRMERR, Error::Break),
        (URXD_OVRRUN | URXD_PRERR, Error::Parity),
    ] {
        let mut uart = ready_uart();
        uart.regs.receive_with(0xEE, flags);
        uart.regs.receive(b"k");
        assert_eq!(uart.try_read_byte(), Err(expected), "{flags:#x}");
        assert_eq!(uart.try_read_byte(), Ok(Some(b'k')), "{flags:#x}");
    }
    assert_eq!(Error::Parity.kind(), ErrorKind::InvalidData);
    assert_eq!(Error::Break.kind(), ErrorKind::Other);
}

#[test]
fn overrun_is_reported_then_its_good_byte_returned() {
    let mut uart = ready_uart();
    uart.regs.receive_with(b'a', URXD_OVRRUN);
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
    uart.regs.receive_with(0, URXD_BRK);
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
    let mut fake = FakeImx::new();
    {
        let mut uart = ImxUart::with_spin_limit(&mut fake, 1000);
        uart.init(Some(80_000_000), 115_200).unwrap();
        uart.write_all(b"ok").unwrap();
    }
    assert_eq!(fake.tx_log, b"ok");
    assert_eq!(fake.latched_brm, (503, 3124));
}
