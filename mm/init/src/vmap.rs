//! Virtual areas for `vmalloc` (Linux `vmap_area` / `alloc_vmap_area`): first-fit ranges of
//! kernel virtual address space inside `[start, end)`, each followed by one unmapped guard page
//! (Linux's `VM_NO_GUARD` absent: an overrun faults instead of running into the next area).
//!
//! Only the bookkeeping lives here (host-tested); mapping pages into the ranges is the
//! platform's.

use mm_types::PAGE_SIZE;

const PAGE: usize = PAGE_SIZE as usize;

/// One area: `[addr, addr + pages * PAGE)` usable, then a guard page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmapArea {
    /// First usable address.
    pub addr: usize,
    /// Usable pages (the guard page is not counted).
    pub pages: usize,
}

impl VmapArea {
    /// One past the guard page.
    const fn end_with_guard(&self) -> usize {
        self.addr + (self.pages + 1) * PAGE
    }
}

/// Why an area could not be handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmapError {
    /// Zero pages asked for.
    Empty,
    /// No hole in the range is large enough (`pages` + guard).
    NoSpace { pages: usize },
    /// The area table is full.
    TooManyAreas,
}

/// The areas in use, sorted by address.
#[derive(Debug)]
pub struct VmapAreas<const N: usize> {
    start: usize,
    end: usize,
    areas: heapless::Vec<VmapArea, N>,
}

impl<const N: usize> VmapAreas<N> {
    /// An empty allocator over `[start, end)` (page-aligned inwards).
    pub const fn new(start: usize, end: usize) -> Self {
        let start = (start + PAGE - 1) & !(PAGE - 1);
        let end = end & !(PAGE - 1);
        Self { start, end, areas: heapless::Vec::new() }
    }

    /// The range managed.
    pub const fn range(&self) -> (usize, usize) {
        (self.start, self.end)
    }

    /// Areas in use.
    pub fn areas(&self) -> &[VmapArea] {
        &self.areas
    }

    /// First fit for `pages` usable pages plus a guard page.
    ///
    /// # Errors
    /// [`VmapError`] as named.
    pub fn alloc(&mut self, pages: usize) -> Result<VmapArea, VmapError> {
        if pages == 0 {
            return Err(VmapError::Empty);
        }
        let need = pages.checked_add(1).and_then(|p| p.checked_mul(PAGE)).ok_or(VmapError::NoSpace { pages })?;
        let mut cursor = self.start;
        let mut at = self.areas.len();
        for (i, a) in self.areas.iter().enumerate() {
            if a.addr - cursor >= need {
                at = i;
                break;
            }
            cursor = a.end_with_guard();
        }
        if at == self.areas.len() && self.end.saturating_sub(cursor) < need {
            return Err(VmapError::NoSpace { pages });
        }
        let area = VmapArea { addr: cursor, pages };
        self.areas.insert(at, area).map_err(|_| VmapError::TooManyAreas)?;
        Ok(area)
    }

    /// Removes the area starting at `addr`, returning it; `None` if no area starts there.
    pub fn free(&mut self, addr: usize) -> Option<VmapArea> {
        let i = self.areas.iter().position(|a| a.addr == addr)?;
        Some(self.areas.remove(i))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn first_fit_with_guard_pages() {
        let mut v: VmapAreas<8> = VmapAreas::new(0x1000_0000, 0x1001_0000); // 16 pages
        let a = v.alloc(3).unwrap();
        let b = v.alloc(2).unwrap();
        assert_eq!(a, VmapArea { addr: 0x1000_0000, pages: 3 });
        // a's guard page sits between a and b.
        assert_eq!(b.addr, 0x1000_4000);
        assert_eq!(v.free(a.addr), Some(a));
        // The hole before b fits 3 pages + guard again, not 4.
        assert_eq!(v.alloc(3).unwrap().addr, 0x1000_0000);
        let c = v.alloc(9).unwrap_err();
        assert_eq!(c, VmapError::NoSpace { pages: 9 });
        assert_eq!(v.alloc(8).unwrap().addr, 0x1000_7000);
        assert_eq!(v.alloc(0), Err(VmapError::Empty));
        assert_eq!(v.free(0x1234_0000), None);
    }

    #[test]
    fn random_alloc_free_never_overlaps() {
        let mut v: VmapAreas<64> = VmapAreas::new(0x4000_0000, 0x4100_0000);
        let mut x: u64 = 0x1234_5678;
        let mut live: std::vec::Vec<VmapArea> = std::vec::Vec::new();
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if live.is_empty() || (x & 1 == 0 && live.len() < 60) {
                if let Ok(a) = v.alloc(1 + (x >> 8) as usize % 64) {
                    live.push(a);
                }
            } else {
                let a = live.swap_remove((x >> 16) as usize % live.len());
                assert_eq!(v.free(a.addr), Some(a));
            }
            let mut s = live.clone();
            s.sort_by_key(|a| a.addr);
            for w in s.windows(2) {
                assert!(w[0].end_with_guard() <= w[1].addr, "{w:?}");
            }
            assert!(s.iter().all(|a| a.addr >= 0x4000_0000 && a.end_with_guard() <= 0x4100_0000));
        }
    }
}
