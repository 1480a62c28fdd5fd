//! The gzip splicing that lets a scrape compress nothing: each family is deflated once when it is rendered, on
//! its own and ending on a byte boundary, so the parts can be joined back to back, and a scrape appends its
//! small tail in stored blocks and the combined CRC to make one standard gzip member.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status as ZStatus};

/// One family's (or group of families') text, its deflate blocks and the CRC of its text. Cheap to clone: the
/// bytes are shared.
#[derive(Clone)]
pub struct Part {
    pub(super) text: Bytes,
    pub(super) deflate: Option<Bytes>,
    pub(super) crc: crc32fast::Hasher,
}

impl Part {
    pub fn new(mut text: Vec<u8>) -> Part {
        // Renderers reserve generously; what is kept for as long as the snapshot is served holds no slack.
        text.shrink_to_fit();
        let deflate = deflate(&text, FlushCompress::Sync).map(|mut d| {
            d.shrink_to_fit();
            Bytes::from(d)
        });
        let mut crc = crc32fast::Hasher::new();
        crc.update(&text);
        Part {
            text: Bytes::from(text),
            deflate,
            crc,
        }
    }

    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

/// One standard gzip member into `out`: the pre-compressed deflate blocks of `parts`, then `tail` in stored
/// (uncompressed) blocks ending the stream, then the CRC of all the text combined. `false`, with nothing written,
/// if a part has no deflate blocks (its compressor failed): that body is served plain.
pub(super) fn member(parts: &[&Part], tail: &[u8], out: &mut Chunks) -> bool {
    if parts.iter().any(|p| p.deflate.is_none()) {
        return false;
    }
    out.push(&Bytes::from_static(&GZIP_HEADER));
    let mut crc = crc32fast::Hasher::new();
    let mut total = tail.len();
    for part in parts {
        if let Some(deflate) = &part.deflate {
            out.push(deflate);
        }
        crc.combine(&part.crc);
        total += part.text.len();
    }
    let mut tail_crc = crc32fast::Hasher::new();
    tail_crc.update(tail);
    crc.combine(&tail_crc);
    let mut last = stored_final_blocks(tail);
    last.extend_from_slice(&crc.finalize().to_le_bytes());
    // ISIZE is the length modulo 2^32, as RFC 1952 defines it.
    last.extend_from_slice(&(total as u32).to_le_bytes());
    out.push_owned(last);
    true
}

/// The chunks of a response body, each a frame of it. Runs of small chunks are copied into one: a thousand
/// accounts' families (or one account's few dozen, for `/probe`) sent one frame each would cost a system call per
/// handful of frames, more than copying them. Large chunks go out as they are, shared, not copied.
#[derive(Default)]
pub(super) struct Chunks {
    out: Vec<Bytes>,
    run: Vec<u8>,
}

/// Chunks below this are copied together rather than sent one by one.
const SMALL_CHUNK: usize = 16 * 1024;

impl Chunks {
    pub(super) fn push(&mut self, chunk: &Bytes) {
        if chunk.len() < SMALL_CHUNK {
            self.run.extend_from_slice(chunk);
            if self.run.len() >= 4 * SMALL_CHUNK {
                self.out.push(Bytes::from(std::mem::take(&mut self.run)));
            }
        } else {
            self.end_run();
            self.out.push(chunk.clone());
        }
    }

    pub(super) fn push_owned(&mut self, chunk: Vec<u8>) {
        self.push(&Bytes::from(chunk));
    }

    fn end_run(&mut self) {
        if !self.run.is_empty() {
            self.out.push(Bytes::from(std::mem::take(&mut self.run)));
        }
    }

    pub(super) fn finish(mut self) -> Vec<Bytes> {
        self.end_run();
        self.out
    }
}

/// Fixed gzip header: deflate, no flags, no modification time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// `data` as deflate stored blocks, the last one final. The stream before them ends on a byte boundary (a sync
/// flush), so each block is one header byte (BFINAL, BTYPE 00), LEN, NLEN and the bytes (RFC 1951, 3.2.4).
fn stored_final_blocks(data: &[u8]) -> Vec<u8> {
    const MAX_STORED: usize = 65_535;
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / MAX_STORED + 1) + 8);
    let mut chunks = data.chunks(MAX_STORED).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// Raw deflate of `input`. `Sync` leaves the stream open on a byte boundary (more blocks may follow); `Finish`
/// ends it with a final block. `None` only if the compressor reports an internal error.
fn deflate(input: &[u8], flush: FlushCompress) -> Option<Vec<u8>> {
    // Level 2: with the zlib-rs backend, level 1 leaves the body half as large again (3.1 MB against 2.1 MB at
    // 100,000 instances) for half the time (33 ms against 65 ms); levels above 2 gain under 5% for much more.
    // One compressor per thread, reset between uses: setting one up allocates its window and tables, which
    // would cost more than compressing the small families of an account with a hundred instances.
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Compress> =
            std::cell::RefCell::new(Compress::new(Compression::new(2), false));
    }
    COMPRESSOR.with_borrow_mut(|compressor| {
        compressor.reset();
        deflate_with(compressor, input, flush)
    })
}

fn deflate_with(compressor: &mut Compress, input: &[u8], flush: FlushCompress) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 8 + 64);
    loop {
        let consumed = compressor.total_in() as usize;
        let status = compressor
            .compress_vec(&input[consumed..], &mut out, flush)
            .ok()?;
        let done = match flush {
            FlushCompress::Finish => status == ZStatus::StreamEnd,
            // A sync flush is complete once all input is taken and the output did not fill up.
            _ => compressor.total_in() as usize == input.len() && out.len() < out.capacity(),
        };
        if done {
            return Some(out);
        }
        out.reserve(out.capacity().max(4096));
    }
}
