//! The gzip splicing that lets a scrape compress nothing, and the holding that keeps the served text small: each
//! family is deflated once when it is rendered (`deflate`), on its own and ending on a byte boundary, so the parts
//! can be joined back to back, and a scrape appends its small tail in stored blocks and the combined CRC to make
//! one standard gzip member. A part is held deflated only (a seventh of the text at 100,000 instances): the rare
//! client that does not take gzip gets it inflated as it is sent ([`Frames`]); Prometheus always takes gzip.

use std::collections::VecDeque;

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress};

use super::deflate;

/// One family's (or group of families') text as held: its deflate blocks, its length and its CRC. Cheap to
/// clone: the bytes are shared.
#[derive(Clone)]
pub struct Part {
    held: Held,
    len: usize,
    crc: crc32fast::Hasher,
}

#[derive(Clone)]
enum Held {
    /// Raw deflate blocks, ending on a byte boundary (a sync flush), the stream left open.
    Deflated(Bytes),
    /// The text itself, only if the compressor failed (it reports errors for internal faults alone).
    Plain(Bytes),
}

/// Items rendered per batch by [`Part::rendered`]: a few hundred kilobytes of text at most, compressed before the
/// next batch is rendered into the same buffer.
const BATCH: usize = 2048;

impl Part {
    /// The part of `text`, whole.
    pub fn new(text: Vec<u8>) -> Part {
        Part::rendered(&[text], |out, texts| {
            for text in texts {
                out.extend_from_slice(text);
            }
        })
    }

    /// The part of the text `render` writes for `items`, a batch at a time: each batch is compressed before the
    /// next is rendered, so the whole text is never held, even while it is built.
    pub fn rendered<T>(items: &[T], mut render: impl FnMut(&mut Vec<u8>, &[T])) -> Part {
        let mut batches = items.chunks(BATCH);
        let deflated = deflate_batches(|out| {
            let Some(batch) = batches.next() else {
                return false;
            };
            render(out, batch);
            true
        });
        match deflated {
            Some(part) => part,
            None => {
                tracing::error!("the compressor failed; this part is served uncompressed");
                let mut text = Vec::new();
                for items in items.chunks(BATCH) {
                    render(&mut text, items);
                }
                let mut crc = crc32fast::Hasher::new();
                crc.update(&text);
                Part {
                    len: text.len(),
                    held: Held::Plain(Bytes::from(text)),
                    crc,
                }
            }
        }
    }

    /// The part of the text `next` writes, a batch per call until it returns `false`; `None` if the compressor
    /// failed, since the batches cannot be asked for again.
    pub fn streamed(next: impl FnMut(&mut Vec<u8>) -> bool) -> Option<Part> {
        deflate_batches(next)
    }

    /// The text inflated a frame at a time, for a caller that rewrites it.
    pub fn frames(&self) -> Frames {
        Frames::new(vec![self.plain_chunk()])
    }

    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The CRC-32 of the text.
    pub fn crc32(&self) -> u32 {
        self.crc.clone().finalize()
    }

    /// Bytes held for it.
    #[cfg(test)]
    pub fn held_len(&self) -> usize {
        match &self.held {
            Held::Deflated(b) | Held::Plain(b) => b.len(),
        }
    }

    /// The text as a chunk of a plain body: the text itself, or its deflate blocks to inflate as it is sent.
    fn plain_chunk(&self) -> Chunk {
        match &self.held {
            Held::Plain(text) => Chunk::Ready(text.clone()),
            Held::Deflated(deflate) => Chunk::Deflated {
                deflate: deflate.clone(),
                len: self.len,
            },
        }
    }

    /// The text, inflated: for tests and small callers.
    pub fn text(&self) -> Vec<u8> {
        let mut frames = Frames::new(vec![self.plain_chunk()]);
        let mut text = Vec::with_capacity(self.len);
        while let Some(frame) = frames.next_frame() {
            text.extend_from_slice(&frame);
        }
        text
    }

    /// Whether the deflate blocks are the same bytes as `other`'s (not a copy): for tests of reuse.
    #[cfg(test)]
    pub fn shares_bytes_with(&self, other: &Part) -> bool {
        match (&self.held, &other.held) {
            (Held::Deflated(a), Held::Deflated(b)) | (Held::Plain(a), Held::Plain(b)) => {
                a.as_ptr() == b.as_ptr() && a.len() == b.len()
            }
            _ => false,
        }
    }
}

/// One piece of a response body.
#[derive(Clone)]
pub enum Chunk {
    /// Bytes sent as they are.
    Ready(Bytes),
    /// Raw deflate blocks, inflated to `len` bytes of text as they are sent.
    Deflated { deflate: Bytes, len: usize },
}

impl Chunk {
    /// Bytes this chunk puts on the wire.
    pub fn len(&self) -> usize {
        match self {
            Chunk::Ready(b) => b.len(),
            Chunk::Deflated { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The body of `parts` then `tail`, and whether it is gzip: one gzip member when `gzip` is asked and every part is
/// held deflated, else the text (inflated as it is sent). What `/metrics`, `/probe` and `/sd` send.
pub(super) fn body(parts: &[&Part], tail: Vec<u8>, gzip: bool) -> (Vec<Chunk>, bool) {
    match gzip.then(|| member(parts, &tail)).flatten() {
        Some(member) => (member, true),
        None => (plain(parts, tail), false),
    }
}

/// One standard gzip member: the pre-compressed deflate blocks of `parts`, then `tail` in stored (uncompressed)
/// blocks ending the stream, then the CRC of all the text combined. `None` if a part is held plain (its
/// compressor failed): that body is served plain.
fn member(parts: &[&Part], tail: &[u8]) -> Option<Vec<Chunk>> {
    let mut chunks = Vec::with_capacity(parts.len() + 2);
    chunks.push(Chunk::Ready(Bytes::from_static(&GZIP_HEADER)));
    let mut crc = crc32fast::Hasher::new();
    let mut total = tail.len();
    for part in parts {
        let Held::Deflated(deflate) = &part.held else {
            return None;
        };
        chunks.push(Chunk::Ready(deflate.clone()));
        crc.combine(&part.crc);
        total += part.len;
    }
    let mut tail_crc = crc32fast::Hasher::new();
    tail_crc.update(tail);
    crc.combine(&tail_crc);
    let mut last = stored_final_blocks(tail);
    last.extend_from_slice(&crc.finalize().to_le_bytes());
    // ISIZE is the length modulo 2^32, as RFC 1952 defines it.
    last.extend_from_slice(&(total as u32).to_le_bytes());
    chunks.push(Chunk::Ready(Bytes::from(last)));
    Some(chunks)
}

/// The parts' text then `tail`, as the chunks of a plain body.
fn plain(parts: &[&Part], tail: Vec<u8>) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = parts.iter().map(|p| p.plain_chunk()).collect();
    chunks.push(Chunk::Ready(Bytes::from(tail)));
    chunks
}

/// A body's chunks turned into the frames sent: runs of small chunks copied into one frame (a thousand
/// accounts' families sent one frame each would cost a system call per handful of frames, more than copying
/// them), large ready chunks sent as they are (shared, not copied), deflated ones inflated a frame at a time.
pub struct Frames {
    chunks: VecDeque<Chunk>,
    /// One decompressor for every deflated chunk of the body, reset between them: setting one up allocates its
    /// state, and a plain scrape of many accounts inflates thousands of small parts.
    inflater: Option<Decompress>,
    /// Of the front chunk, when it is being inflated: input taken and text produced so far.
    inflating: Option<(usize, usize)>,
    remaining: u64,
}

/// Ready chunks below this are copied together rather than sent one by one.
const SMALL_CHUNK: usize = 16 * 1024;
/// The size of a frame built by copying or inflating.
const FRAME: usize = 64 * 1024;

impl Frames {
    pub fn new(chunks: Vec<Chunk>) -> Frames {
        let chunks: VecDeque<Chunk> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Frames {
            chunks,
            inflater: None,
            inflating: None,
            remaining,
        }
    }

    /// Bytes still to be sent.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The next frame; `None` at the end. An inflation that fails (only a bug could make it) ends the body
    /// early, and the client sees a short body against its `Content-Length`.
    pub fn next_frame(&mut self) -> Option<Bytes> {
        let mut frame: Vec<u8> = Vec::new();
        while let Some(chunk) = self.chunks.front() {
            match chunk {
                Chunk::Ready(bytes) if bytes.len() >= SMALL_CHUNK => {
                    if !frame.is_empty() {
                        break;
                    }
                    let Some(Chunk::Ready(bytes)) = self.chunks.pop_front() else {
                        unreachable!("the front chunk is ready");
                    };
                    self.remaining -= bytes.len() as u64;
                    return Some(bytes);
                }
                Chunk::Ready(bytes) => {
                    frame.extend_from_slice(bytes);
                    self.chunks.pop_front();
                }
                Chunk::Deflated { deflate, len } => {
                    let decompress = self.inflater.get_or_insert_with(|| Decompress::new(false));
                    let (taken, produced) = match &mut self.inflating {
                        Some(progress) => progress,
                        None => {
                            decompress.reset(false);
                            self.inflating.insert((0, 0))
                        }
                    };
                    // Inflated straight into the frame, never past its size.
                    let start = frame.len();
                    frame.resize(start + FRAME.saturating_sub(start).max(1), 0);
                    let (in_before, out_before) = (decompress.total_in(), decompress.total_out());
                    let status = decompress.decompress(
                        &deflate[*taken..],
                        &mut frame[start..],
                        FlushDecompress::Sync,
                    );
                    *taken += (decompress.total_in() - in_before) as usize;
                    let now = (decompress.total_out() - out_before) as usize;
                    *produced += now;
                    frame.truncate(start + now);
                    let done = *produced >= *len;
                    if status.is_err() || (now == 0 && !done) {
                        tracing::error!("inflating a held part failed; the body ends short");
                        self.chunks.clear();
                        self.remaining = 0;
                        return (!frame.is_empty()).then(|| Bytes::from(frame));
                    }
                    if done {
                        self.chunks.pop_front();
                        self.inflating = None;
                    }
                }
            }
            if frame.len() >= FRAME {
                break;
            }
        }
        self.remaining -= frame.len() as u64;
        (!frame.is_empty()).then(|| Bytes::from(frame))
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

/// The part of the batches `next` writes, deflated ([`deflate::batches`]); `None` if the compressor failed.
fn deflate_batches(next: impl FnMut(&mut Vec<u8>) -> bool) -> Option<Part> {
    deflate::batches(next).map(|deflated| Part {
        held: Held::Deflated(deflated.stream),
        len: deflated.len,
        crc: deflated.crc,
    })
}

/// `bytes` gunzipped by a single-member decoder: a body must be one gzip member, as every HTTP client expects.
#[cfg(test)]
pub(super) fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(chunks: Vec<Chunk>) -> (Vec<u8>, usize) {
        let mut frames = Frames::new(chunks);
        let announced = frames.remaining() as usize;
        let mut body = Vec::new();
        let mut count = 0;
        while let Some(frame) = frames.next_frame() {
            body.extend_from_slice(&frame);
            count += 1;
        }
        assert_eq!(
            body.len(),
            announced,
            "the length announced is the length sent"
        );
        (body, count)
    }

    /// Text that compresses like the exposition: repetitive, with a changing number.
    fn lines(n: usize, prefix: &str) -> Vec<String> {
        (0..n)
            .map(|i| format!("{prefix}{{instance_id=\"{i:019}\"}} {}\n", i % 7))
            .collect()
    }

    #[test]
    fn parts_rendered_in_batches_serve_the_same_text_plain_and_gzip() {
        for n in [0, 1, BATCH - 1, BATCH, 5 * BATCH + 3] {
            let rows = lines(n, "zenlayer_instance_running");
            let part = Part::rendered(&rows, |out, rows| {
                for row in rows {
                    out.extend_from_slice(row.as_bytes());
                }
            });
            let text = rows.concat().into_bytes();
            assert_eq!(part.len(), text.len());
            let head = Part::new(b"# TYPE x gauge\n".to_vec());
            let tail = b"zenlayer_up 1\n";
            let (plain, _) = sent(plain(&[&head, &part], tail.to_vec()));
            let expected = [&b"# TYPE x gauge\n"[..], &text, tail].concat();
            assert_eq!(plain, expected, "{n} rows");
            let (gz, _) = sent(member(&[&head, &part], tail).unwrap());
            assert_eq!(gunzip(&gz), expected, "{n} rows");
            if n > BATCH {
                assert!(part.held_len() * 5 < text.len(), "held deflated only");
            }
        }
    }

    #[test]
    fn small_chunks_are_sent_together_and_large_ones_alone() {
        let small: Vec<Chunk> = (0..100)
            .map(|i| Chunk::Ready(Bytes::from(format!("line {i}\n"))))
            .collect();
        let (body, frames) = sent(small);
        assert!(body.starts_with(b"line 0\nline 1\n"));
        assert_eq!(frames, 1);
        let large = Bytes::from(vec![b'x'; 100_000]);
        let (body, frames) = sent(vec![
            Chunk::Ready(Bytes::from_static(b"a")),
            Chunk::Ready(large.clone()),
            Chunk::Ready(Bytes::from_static(b"b")),
        ]);
        assert_eq!(body.len(), 100_002);
        assert_eq!(frames, 3);
    }

    #[test]
    fn a_large_part_is_inflated_a_frame_at_a_time() {
        let rows = lines(50_000, "zenlayer_instance_status");
        let part = Part::rendered(&rows, |out, rows| {
            for row in rows {
                out.extend_from_slice(row.as_bytes());
            }
        });
        let mut frames = Frames::new(plain(&[&part], Vec::new()));
        let mut largest = 0;
        let mut body = Vec::new();
        while let Some(frame) = frames.next_frame() {
            largest = largest.max(frame.len());
            body.extend_from_slice(&frame);
        }
        assert_eq!(body, rows.concat().into_bytes());
        assert!(largest <= FRAME, "frames of {largest} bytes");
    }
}
