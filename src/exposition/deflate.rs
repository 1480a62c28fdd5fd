//! How a part's text is deflated when it is rendered: each thread's compressor and the scratch buffers it
//! deflates in, reused from part to part, and the stream copied out at its size. What the deflated parts become
//! when served (joined into one gzip member, or inflated as sent) is `gzip`'s.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

/// Runs `f` with this thread's compressor, reset, and its scratch buffers. Level 2: with the zlib-rs backend,
/// level 1 leaves the body half as large again (3.1 MB against 2.1 MB at 100,000 instances) for half the time
/// (33 ms against 65 ms); levels above 2 gain under 5% for much more. One compressor per thread, reset between
/// uses: setting one up allocates its window and tables, which would cost more than compressing the small
/// families of an account with a hundred instances. A render never builds a part inside another, so neither is
/// ever borrowed twice.
fn with_compressor<R>(f: impl FnOnce(&mut Compress, &mut Scratch) -> R) -> R {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<(Compress, Scratch)> = std::cell::RefCell::new((
            Compress::new(Compression::new(2), false),
            Scratch::default(),
        ));
    }
    COMPRESSOR.with_borrow_mut(|(compressor, scratch)| {
        compressor.reset();
        // Emptied first as well: a render that panicked (a bug, which the runtime survives) left its bytes here.
        scratch.trim();
        let result = f(compressor, scratch);
        scratch.trim();
        result
    })
}

/// The buffers a thread deflates every part in: a batch's text and the deflate stream. Kept from part to part,
/// not allocated for each: a part's stream used to be a buffer of 4 kB at least, shrunk in place once written,
/// so the part kept for as long as its snapshot is served sat at the head of a larger chunk whose freed tail was
/// a hole between long-lived chunks (at 1,000 accounts, 13 MB of the heap was free chunks of 1 to 4 kB,
/// resident for good). The stream is copied out at its size instead.
#[derive(Default)]
struct Scratch {
    text: Vec<u8>,
    stream: Vec<u8>,
}

impl Scratch {
    /// What a buffer may keep between parts: glibc's mmap threshold, above which a buffer is mapped apart and
    /// handed back whole when freed, so keeping it would only pin memory a large fleet's part once needed.
    const KEPT: usize = crate::heap::MMAP_THRESHOLD;

    fn trim(&mut self) {
        for buffer in [&mut self.text, &mut self.stream] {
            buffer.clear();
            if buffer.capacity() > Self::KEPT {
                *buffer = Vec::new();
            }
        }
    }
}

/// A text deflated: its stream, ending on a byte boundary, the text's length and its CRC.
pub(super) struct Deflated {
    pub stream: Bytes,
    pub len: usize,
    pub crc: crc32fast::Hasher,
}

/// Deflates the batches `next` writes into one stream ending on a byte boundary (a sync flush), each batch
/// compressed before the next is written into the same buffer, so the whole text is never held; `None` if the
/// compressor failed.
pub(super) fn batches(mut next: impl FnMut(&mut Vec<u8>) -> bool) -> Option<Deflated> {
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0;
    let deflate = with_compressor(|compressor, Scratch { text, stream }| {
        loop {
            text.clear();
            if !next(text) {
                break;
            }
            crc.update(text);
            len += text.len();
            deflate_into(compressor, text, FlushCompress::None, stream)?;
        }
        deflate_into(compressor, &[], FlushCompress::Sync, stream)?;
        // What is kept for as long as the snapshot is served holds no slack. A small stream is copied out at its
        // size (its buffer stays for the next part, or goes if it grew past what is kept); a large one, mapped
        // apart, is taken whole and shrunk, which a mapping does in place rather than through a second copy.
        Some(if stream.len() > Scratch::KEPT {
            let mut whole = std::mem::take(stream);
            whole.shrink_to_fit();
            Bytes::from(whole)
        } else {
            Bytes::copy_from_slice(stream)
        })
    })?;
    Some(Deflated {
        stream: deflate,
        len,
        crc,
    })
}

/// Deflates all of `input` into `out`. `Sync` leaves the stream on a byte boundary (more blocks may follow);
/// `None` lets the compressor keep input back for the next call. `None` is returned only if the compressor
/// reports an internal error.
fn deflate_into(
    compressor: &mut Compress,
    input: &[u8],
    flush: FlushCompress,
    out: &mut Vec<u8>,
) -> Option<()> {
    let start = compressor.total_in();
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(input.len() / 8).max(4096));
        }
        let taken = (compressor.total_in() - start) as usize;
        compressor.compress_vec(&input[taken..], out, flush).ok()?;
        // Done once all input is taken and the output did not fill up (a full buffer may have more to come).
        let all_in = (compressor.total_in() - start) as usize == input.len();
        if all_in && out.len() < out.capacity() {
            return Some(());
        }
    }
}
