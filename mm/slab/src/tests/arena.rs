//! A host arena that is both the [`PageProvider`] (naturally aligned blocks from a page bitmap)
//! and the [`Memory`] (atomic words), and that counts every access outside a live block.
extern crate std;

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::vec::Vec;

use crate::{Memory, PageProvider, PAGE_SIZE};

const WORD: usize = core::mem::size_of::<usize>();
/// Virtual address of the arena's first page (aligned far beyond any order used).
pub const BASE: usize = 0x4000_0000;

struct State {
    used: Vec<bool>,
    blocks: BTreeMap<usize, u32>,
    in_use: usize,
    limit: usize,
}

pub struct Arena {
    words: Vec<AtomicUsize>,
    live: Vec<AtomicBool>,
    state: Mutex<State>,
    stray: AtomicUsize,
}

impl Arena {
    /// `nr_pages` pages, all available.
    pub fn new(nr_pages: usize) -> Self {
        Self::with_limit(nr_pages, nr_pages)
    }

    /// `nr_pages` pages of which at most `limit` may be handed out at once.
    pub fn with_limit(nr_pages: usize, limit: usize) -> Self {
        Self {
            words: (0..nr_pages * PAGE_SIZE / WORD).map(|_| AtomicUsize::new(0)).collect(),
            live: (0..nr_pages).map(|_| AtomicBool::new(false)).collect(),
            state: Mutex::new(State { used: std::vec![false; nr_pages], blocks: BTreeMap::new(), in_use: 0, limit }),
            stray: AtomicUsize::new(0),
        }
    }

    /// Pages currently handed out.
    pub fn pages_in_use(&self) -> usize {
        self.state.lock().unwrap().in_use
    }

    /// Accesses made outside live blocks.
    pub fn stray(&self) -> usize {
        self.stray.load(Ordering::Relaxed)
    }

    /// Whether `[addr, addr + len)` lies inside one live block.
    pub fn in_live_block(&self, addr: usize, len: usize) -> bool {
        let st = self.state.lock().unwrap();
        match st.blocks.range(..=addr).next_back() {
            Some((&start, &order)) => addr + len <= start + (PAGE_SIZE << order),
            None => false,
        }
    }

    /// Writes one byte behind the allocator's back (a buggy caller).
    pub fn poke(&self, addr: usize, byte: u8) {
        self.fill(addr, 1, byte);
    }

    /// Reads one byte.
    pub fn peek(&self, addr: usize) -> u8 {
        let w = self.read_word(addr & !(WORD - 1));
        (w >> ((addr % WORD) * 8)) as u8
    }

    fn page_live(&self, addr: usize) -> bool {
        addr >= BASE && (addr - BASE) / PAGE_SIZE < self.live.len() && self.live[(addr - BASE) / PAGE_SIZE].load(Ordering::Relaxed)
    }

    fn word(&self, addr: usize) -> Option<&AtomicUsize> {
        if self.page_live(addr) {
            Some(&self.words[(addr - BASE) / WORD])
        } else {
            self.stray.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    fn store_byte(&self, addr: usize, byte: u8) {
        if let Some(w) = self.word(addr) {
            let shift = (addr % WORD) * 8;
            let mask = 0xffusize << shift;
            let _ = w.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some((v & !mask) | ((byte as usize) << shift)));
        }
    }
}

impl PageProvider for Arena {
    fn alloc_pages(&self, order: u32) -> Option<usize> {
        let mut st = self.state.lock().unwrap();
        let n = 1usize << order;
        if st.in_use + n > st.limit {
            return None;
        }
        let start = (0..st.used.len()).step_by(n).find(|&p| p + n <= st.used.len() && st.used[p..p + n].iter().all(|u| !u))?;
        st.used[start..start + n].iter_mut().for_each(|u| *u = true);
        st.in_use += n;
        let addr = BASE + start * PAGE_SIZE;
        st.blocks.insert(addr, order);
        for p in start..start + n {
            self.live[p].store(true, Ordering::Relaxed);
        }
        Some(addr)
    }

    fn free_pages(&self, addr: usize, order: u32) {
        let mut st = self.state.lock().unwrap();
        assert_eq!(st.blocks.remove(&addr), Some(order), "free_pages(0x{addr:x}, {order}) of a block not handed out");
        let start = (addr - BASE) / PAGE_SIZE;
        let n = 1usize << order;
        st.used[start..start + n].iter_mut().for_each(|u| *u = false);
        st.in_use -= n;
        for p in start..start + n {
            self.live[p].store(false, Ordering::Relaxed);
        }
    }
}

impl Memory for Arena {
    fn read_word(&self, addr: usize) -> usize {
        assert_eq!(addr % WORD, 0, "unaligned word read 0x{addr:x}");
        self.word(addr).map_or(0, |w| w.load(Ordering::Relaxed))
    }

    fn write_word(&self, addr: usize, v: usize) {
        assert_eq!(addr % WORD, 0, "unaligned word write 0x{addr:x}");
        if let Some(w) = self.word(addr) {
            w.store(v, Ordering::Relaxed);
        }
    }

    fn fill(&self, addr: usize, len: usize, byte: u8) {
        let pattern = usize::from_ne_bytes([byte; WORD]);
        let mut a = addr;
        while a < addr + len {
            if a.is_multiple_of(WORD) && a + WORD <= addr + len {
                self.write_word(a, pattern);
                a += WORD;
            } else {
                self.store_byte(a, byte);
                a += 1;
            }
        }
    }

    fn check(&self, addr: usize, len: usize, byte: u8) -> Option<usize> {
        (0..len).find(|&i| {
            if !self.page_live(addr + i) {
                self.stray.fetch_add(1, Ordering::Relaxed);
            }
            self.peek(addr + i) != byte
        })
    }
}
