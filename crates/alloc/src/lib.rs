//! mimalloc as the global allocator, the way switchboard's binaries use it.
//!
//! The `mimalloc` crate's `GlobalAlloc` passes every request to `mi_malloc_aligned(size, align)`.
//! mimalloc 3 (what `libmimalloc-sys` builds) serves that entry point quickly only when a free
//! small block happens to be aligned or the size is a power of two; otherwise it takes
//! `mi_theap_malloc_zero_aligned_at_overalloc`, which asks for `size + align` and aligns inside
//! it: more work per call, and larger blocks (more fresh pages to fault in).
//! A profile of the webhook benchmark had 8% of its samples on that path (page faults included),
//! for allocations whose alignment (8) every mimalloc block has anyway: block sizes are whole
//! machine words and pages start 16-aligned. So requests aligned to at most a word go to
//! `mi_malloc`, `mi_zalloc` and `mi_realloc`, and only larger alignments (u128's 16, tokio's
//! 128-byte task cells) to the aligned entry points.
#![no_std]

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use libmimalloc_sys as ffi;

/// Every mimalloc block is a whole number of machine words from a 16-aligned page start.
const PLAIN_ALIGN: usize = core::mem::size_of::<usize>();

#[inline]
fn plain(align: usize) -> bool {
    align <= PLAIN_ALIGN
}

/// The global allocator: `#[global_allocator] static A: switchboard_alloc::MiMalloc = switchboard_alloc::MiMalloc;`
pub struct MiMalloc;

unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align()) {
            ffi::mi_malloc(layout.size()) as *mut u8
        } else {
            ffi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align()) {
            ffi::mi_zalloc(layout.size()) as *mut u8
        } else {
            ffi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        ffi::mi_free(ptr as *mut c_void)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain(layout.align()) {
            ffi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            ffi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Every alignment and a range of sizes come back aligned, zeroed when asked, and keep their
    /// contents across `realloc` (growing and shrinking, across the plain/aligned boundary).
    #[test]
    fn blocks_are_aligned_and_realloc_keeps_contents() {
        let a = MiMalloc;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1usize, 3, 8, 15, 16, 17, 100, 1024, 5000, 70_000, 3 << 20] {
                for new_size in [size / 2 + 1, size * 3] {
                    let layout = Layout::from_size_align(size, align).unwrap();
                    unsafe {
                        let p = a.alloc_zeroed(layout);
                        assert!(!p.is_null());
                        assert_eq!(p as usize % align, 0, "align {align} size {size}");
                        assert!((0..size).all(|i| *p.add(i) == 0));
                        for i in 0..size {
                            *p.add(i) = (i % 251) as u8;
                        }
                        let q = a.realloc(p, layout, new_size);
                        assert!(!q.is_null());
                        assert_eq!(q as usize % align, 0, "realloc align {align} size {size} -> {new_size}");
                        assert!((0..size.min(new_size)).all(|i| *q.add(i) == (i % 251) as u8));
                        a.dealloc(q, Layout::from_size_align(new_size, align).unwrap());
                        let r = a.alloc(layout);
                        assert_eq!(r as usize % align, 0);
                        a.dealloc(r, layout);
                    }
                }
            }
        }
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.iter().sum::<u64>(), 499_500);
    }
}
