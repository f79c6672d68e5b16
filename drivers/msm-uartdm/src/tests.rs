//! The driver against a fake UARTDM: a transmitter that sends the announced count, status bits
//! as the UARTDM keeps them, an RX FIFO of packed words and a packing buffer that a forced stale
//! event flushes.

extern crate std;

use std::collections::VecDeque;
use std::vec::Vec;

use super::*;

#[derive(Default)]
struct Fake {
    /// Characters announced in NCF_TX and not yet written to TF.
    announced: u32,
    /// ISR.TX_READY: the last announced count went out.
    isr_tx_ready: bool,
    /// The transmitter never takes a character (SR.TX_READY and TX_EMPTY stay clear).
    wedged: bool,
    sent: Vec<u8>,
    rx_fifo: VecDeque<u32>,
    packing: Vec<u8>,
    sr_errors: u32,
    stale_rearmed: bool,
    writes: Vec<(usize, u32)>,
}

impl UartdmRegs for Fake {
    fn read32(&mut self, offset: usize) -> u32 {
        match offset {
            reg::SR => {
                let mut sr = self.sr_errors;
                if !self.wedged {
                    sr |= SR_TX_READY;
                    if self.announced == 0 {
                        sr |= SR_TX_EMPTY;
                    }
                }
                if !self.rx_fifo.is_empty() {
                    sr |= SR_RX_READY;
                }
                sr
            }
            reg::ISR => u32::from(self.isr_tx_ready) * ISR_TX_READY,
            reg::RXFS => (self.packing.len() as u32) << RXFS_BUF_SHIFT,
            reg::RF => self.rx_fifo.pop_front().unwrap_or(0),
            _ => 0,
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        self.writes.push((offset, value));
        match offset {
            reg::CR if value == CR_CMD_RESET_TX_READY => self.isr_tx_ready = false,
            reg::CR if value == CR_CMD_RESET_ERR => self.sr_errors = 0,
            reg::CR if value == CR_CMD_FORCE_STALE => {
                let mut w = [0u8; 4];
                for (i, b) in self.packing.drain(..).enumerate() {
                    w[i] = b;
                }
                self.rx_fifo.push_back(u32::from_le_bytes(w));
            }
            reg::CR if value == CR_CMD_STALE_EVENT_ENABLE => self.stale_rearmed = true,
            reg::NCF_TX => self.announced = value,
            reg::TF => {
                self.sent.push(value as u8);
                self.announced -= 1;
                self.isr_tx_ready = self.announced == 0;
            }
            _ => {}
        }
    }
}

fn count(f: &Fake, offset: usize, value: u32) -> usize {
    f.writes.iter().filter(|&&w| w == (offset, value)).count()
}

/// Expect: each byte resets TX_READY, announces one character, then goes to TF; the bytes leave
/// in order.
#[test]
fn each_byte_announces_one_character() {
    let mut u = UartdmUart::new(Fake::default());
    embedded_io::Write::write_all(&mut u, b"ok\n").unwrap();
    embedded_io::Write::flush(&mut u).unwrap();
    let f = u.into_inner();
    assert_eq!(f.sent, b"ok\n");
    assert_eq!((count(&f, reg::NCF_TX, 1), count(&f, reg::CR, CR_CMD_RESET_TX_READY)), (3, 3));
    let order: Vec<usize> = f.writes.iter().map(|&(o, _)| o).take(3).collect();
    assert_eq!(order, [reg::CR, reg::NCF_TX, reg::TF]);
}

/// Expect: a transmitter that never gets ready times out and nothing is written to TF.
#[test]
fn a_wedged_transmitter_times_out() {
    let mut u = UartdmUart::new(Fake { wedged: true, announced: 1, ..Fake::default() }).with_spin_limit(20);
    assert_eq!(embedded_io::Write::write(&mut u, b"x"), Err(Error::Timeout));
    assert_eq!(embedded_io::Write::flush(&mut u), Err(Error::Timeout));
    assert!(u.into_inner().sent.is_empty());
}

/// Expect: take-over masks the interrupts and leaves CSR alone; a speed needs the clock, and
/// a clock that is a table multiple of 16 x baud gives Linux's code.
#[test]
fn the_speed_is_a_table_code() {
    let mut u = UartdmUart::new(Fake::default());
    u.init_console(None, None).unwrap();
    let f = u.into_inner();
    assert_eq!(f.writes, [(reg::IMR, 0)]);
    let mut u = UartdmUart::new(Fake::default());
    assert_eq!(u.init_console(None, Some(115_200)), Err(Error::NoClock));
    let mut u = UartdmUart::new(u.into_inner());
    u.init_console(Some(7_372_800), Some(115_200)).unwrap();
    assert!(u.into_inner().writes.contains(&(reg::CSR, 0xcc)), "7.3728 MHz / (16 x 115200) = 4");
    assert_eq!(csr_code(1_843_200, 115_200), Ok(0xff));
    assert_eq!(csr_code(7_372_800, 9_600), Ok(0x55));
    assert_eq!(csr_code(7_372_800, 115_201), Err(Error::InvalidBaud));
    assert_eq!(csr_code(7_372_800 * 5, 115_200), Err(Error::InvalidBaud), "divisor 20 is not in the table");
}

/// Expect: a full word gives four characters low byte first; a packing buffer of two is pushed
/// out with FORCE_STALE, then the stale interrupt is reset, DMRX rearmed, stale events enabled.
#[test]
fn receive_words_and_the_packing_buffer() {
    let mut f = Fake::default();
    f.rx_fifo.push_back(u32::from_le_bytes(*b"abcd"));
    f.packing.extend_from_slice(b"ef");
    let mut u = UartdmUart::new(f);
    let mut got = Vec::new();
    while let Some(b) = u.try_read_byte().unwrap() {
        got.push(b);
    }
    assert_eq!(got, b"abcdef");
    let f = u.into_inner();
    assert_eq!(count(&f, reg::CR, CR_CMD_FORCE_STALE), 1);
    assert!(f.writes.contains(&(reg::DMRX, DMRX_DEFAULT)) && f.stale_rearmed);
    let i = |w: (usize, u32)| f.writes.iter().position(|&x| x == w).unwrap();
    assert!(i((reg::CR, CR_CMD_FORCE_STALE)) < i((reg::CR, CR_CMD_RESET_STALE_INT)));
}

/// Expect: overrun and parity/framing errors are reported once and cleared with RESET_ERR; the
/// word with the bad character is dropped.
#[test]
fn receive_errors_are_reported_and_cleared() {
    let mut f = Fake { sr_errors: SR_PAR_FRAME_ERR, ..Fake::default() };
    f.rx_fifo.extend([u32::from_le_bytes(*b"bad!"), u32::from_le_bytes(*b"good")]);
    let mut u = UartdmUart::new(f);
    assert_eq!(u.try_read_byte(), Err(Error::ParityOrFraming));
    assert_eq!(u.try_read_byte(), Ok(Some(b'g')));
    let mut f = u.into_inner();
    assert_eq!(count(&f, reg::CR, CR_CMD_RESET_ERR), 1);
    f.sr_errors = SR_OVERRUN;
    let mut u = UartdmUart::new(f);
    let mut buf = [0u8; 8];
    assert_eq!(embedded_io::Read::read(&mut u, &mut buf), Err(Error::Overrun));
}
