//! The driver against a fake GENI serial engine: a transmit FIFO that the "line" drains a word
//! per status read, command and IRQ bits as the engine keeps them, and a receive FIFO of words.

extern crate std;

use std::collections::VecDeque;
use std::vec::Vec;

use super::*;

/// A serial engine in UART mode, as far as the driver sees it.
#[derive(Default)]
struct Engine {
    m_active: bool,
    trans_len: u32,
    sent_in_cmd: u32,
    tx_fifo: VecDeque<u32>,
    watermark: u32,
    m_irq: u32,
    /// The line never drains the FIFO (a wedged engine).
    stuck: bool,
    /// The watermark never rises (a FIFO the engine does not serve).
    no_watermark: bool,
    sent: Vec<u8>,
    s_active: bool,
    s_irq: u32,
    /// Receive words; the last one of a transfer says how many bytes it holds.
    rx: VecDeque<(u32, u32)>,
    writes: Vec<(usize, u32)>,
}

impl Engine {
    fn tick(&mut self) {
        if !self.m_active || self.stuck {
            return;
        }
        if let Some(w) = self.tx_fifo.pop_front() {
            self.sent.push(w as u8);
            self.sent_in_cmd += 1;
        }
        if self.sent_in_cmd == self.trans_len {
            self.m_active = false;
            self.m_irq |= M_CMD_DONE;
        }
    }
}

impl GeniRegs for Engine {
    fn read32(&mut self, offset: usize) -> u32 {
        match offset {
            reg::GENI_STATUS => u32::from(self.m_active) | (u32::from(self.s_active) << 12),
            reg::M_IRQ_STATUS => {
                self.tick();
                let wm = if self.m_active && !self.no_watermark && self.tx_fifo.len() as u32 <= self.watermark { M_TX_FIFO_WATERMARK } else { 0 };
                self.m_irq | wm
            }
            reg::S_IRQ_STATUS => self.s_irq,
            reg::RX_FIFO_STATUS => {
                let n = self.rx.len() as u32;
                match self.rx.back() {
                    Some(&(_, valid)) if n == 1 && valid != 4 => n | RX_LAST | (valid << RX_LAST_BYTE_VALID_SHIFT),
                    _ => n,
                }
            }
            reg::RX_FIFO => self.rx.pop_front().map_or(0, |(w, _)| w),
            _ => 0,
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        self.writes.push((offset, value));
        match offset {
            reg::UART_TX_TRANS_LEN => self.trans_len = value,
            reg::M_CMD0 if value >> OPCODE_SHIFT == UART_START_TX => {
                self.m_active = true;
                self.sent_in_cmd = 0;
            }
            reg::M_CMD_CTRL if value & M_GENI_CMD_ABORT != 0 => {
                self.m_active = false;
                self.tx_fifo.clear();
                self.m_irq |= M_CMD_ABORT;
            }
            reg::M_IRQ_CLEAR => self.m_irq &= !value,
            reg::TX_FIFO => self.tx_fifo.push_back(value),
            reg::TX_WATERMARK => self.watermark = value,
            reg::S_CMD0 if value >> OPCODE_SHIFT == UART_START_READ => self.s_active = true,
            reg::S_IRQ_CLEAR => self.s_irq &= !value,
            _ => {}
        }
    }
}

fn count(e: &Engine, offset: usize) -> usize {
    e.writes.iter().filter(|&&(o, _)| o == offset).count()
}

/// Expect: each byte is one command of length 1 with watermark 2, written once the watermark
/// is up, and its M_CMD_DONE is cleared; the bytes leave in order.
#[test]
fn each_byte_is_a_one_byte_command() {
    let mut u = GeniUart::new(Engine::default());
    embedded_io::Write::write_all(&mut u, b"hi\n").unwrap();
    let e = u.into_inner();
    assert_eq!(e.sent, b"hi\n");
    assert_eq!((count(&e, reg::M_CMD0), count(&e, reg::TX_FIFO)), (3, 3));
    assert!(e.writes.iter().filter(|&&(o, _)| o == reg::UART_TX_TRANS_LEN).all(|&(_, v)| v == 1));
    assert!(e.writes.iter().filter(|&&(o, _)| o == reg::TX_WATERMARK).all(|&(_, v)| v == DEF_TX_WM));
    assert_eq!(e.m_irq, 0, "M_CMD_DONE and the watermark are cleared");
    assert!(!e.m_active);
}

/// Expect: an engine that never drains times out, the command is aborted and both bits are
/// cleared; `write` returns the error and nothing counts as written.
#[test]
fn a_wedged_engine_is_aborted_and_timed_out() {
    let mut u = GeniUart::new(Engine { stuck: true, ..Engine::default() }).with_spin_limit(50);
    assert_eq!(embedded_io::Write::write(&mut u, b"x"), Err(Error::Timeout));
    let e = u.into_inner();
    assert!(e.writes.contains(&(reg::M_CMD_CTRL, M_GENI_CMD_ABORT)));
    assert_eq!((e.m_irq, e.sent.len()), (0, 0));
    // A watermark that never rises: aborted before a byte goes into the FIFO.
    let mut u = GeniUart::new(Engine { no_watermark: true, ..Engine::default() }).with_spin_limit(50);
    assert_eq!(u.write_byte(b'x'), Err(Error::Timeout));
    let e = u.into_inner();
    assert_eq!((count(&e, reg::TX_FIFO), count(&e, reg::M_CMD_CTRL)), (0, 1));
}

/// Expect: a command the boot loader left running is let finish before the first byte; the
/// clock dividers are left alone by a take-over.
#[test]
fn take_over_lets_the_boot_loaders_command_finish() {
    let mut e = Engine { m_active: true, trans_len: 2, ..Engine::default() };
    e.tx_fifo.extend([u32::from(b'o'), u32::from(b'k')]);
    let mut u = GeniUart::new(e);
    u.init_console(None, None).unwrap();
    u.write_byte(b'!').unwrap();
    let e = u.into_inner();
    assert_eq!(e.sent, b"ok!");
    assert_eq!((count(&e, reg::SER_M_CLK_CFG), count(&e, reg::SER_S_CLK_CFG)), (0, 0));
    assert!(!e.writes.contains(&(reg::M_CMD_CTRL, M_GENI_CMD_ABORT)));
}

/// Expect: a speed without the engine's clock is NoClock (taken over); with one, both
/// sequencers get divider << 4 | SER_CLK_EN; a speed the clock cannot make within 2% is refused.
#[test]
fn the_speed_needs_the_engine_clock() {
    let mut u = GeniUart::new(Engine::default());
    assert_eq!(u.init_console(None, Some(115_200)), Err(Error::NoClock));
    assert_eq!(count(&u.into_inner(), reg::SER_M_CLK_CFG), 0);
    let mut u = GeniUart::new(Engine::default());
    u.init_console(Some(7_372_800), Some(115_200)).unwrap();
    let e = u.into_inner();
    assert!(e.writes.contains(&(reg::SER_M_CLK_CFG, (2 << 4) | 1)) && e.writes.contains(&(reg::SER_S_CLK_CFG, (2 << 4) | 1)));
    assert_eq!(clk_div(7_372_800, 115_200), Ok(2));
    assert_eq!(clk_div(3_686_400 * 16, 115_200), Ok(16));
    // 19.2 MHz / (115200 * 32) = 5.2: divider 5 makes 120000, 4% off.
    assert_eq!(clk_div(19_200_000, 115_200), Err(Error::InvalidBaud));
    assert_eq!(clk_div(7_372_800, 0), Err(Error::InvalidBaud));
    assert_eq!(clk_div(1_000, 115_200), Err(Error::InvalidBaud));
}

/// Expect: the receive command is started when none runs; four bytes per word, low byte first,
/// and a last word with RX_LAST gives only its valid bytes.
#[test]
fn receive_words_unpack_low_byte_first() {
    let mut e = Engine::default();
    e.rx.extend([(u32::from_le_bytes(*b"abcd"), 4), (u32::from_le_bytes(*b"ef\0\0"), 2)]);
    let mut u = GeniUart::new(e);
    let mut buf = [0u8; 16];
    let mut got = Vec::new();
    while got.len() < 6 {
        let n = embedded_io::Read::read(&mut u, &mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"abcdef");
    assert_eq!(u.try_read_byte(), Ok(None));
    let e = u.into_inner();
    assert_eq!(count(&e, reg::S_CMD0), 1, "started once, then it runs");
}

/// Expect: a parity error drops the waiting word and is returned once, cleared; a break is
/// returned and cleared; then reading goes on.
#[test]
fn parity_errors_and_breaks_are_reported_once() {
    let mut e = Engine { s_irq: 1 << 9, ..Engine::default() };
    e.rx.extend([(u32::from_le_bytes(*b"bad!"), 4), (u32::from_le_bytes(*b"ok\0\0"), 2)]);
    let mut u = GeniUart::new(e);
    assert_eq!(u.try_read_byte(), Err(Error::Parity));
    assert_eq!(u.try_read_byte(), Ok(Some(b'o')));
    assert_eq!(u.try_read_byte(), Ok(Some(b'k')));
    let mut e = u.into_inner();
    e.s_irq = 1 << 11;
    let mut u = GeniUart::new(e);
    assert_eq!(u.try_read_byte(), Err(Error::Break));
    assert_eq!(u.try_read_byte(), Ok(None));
}
