//! Reading the files an operator names (secrets, the accounts file, the web configuration): regular files only,
//! each with a bound on its size that holds before a byte is read; and telling whether one changed since
//! ([`Seen`]: its metadata, then a digest, never its bytes). Nothing here knows what a file means.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Largest secret file: an access key password or a token is a few dozen bytes; a few KiB leave room for any
/// credential while a mistaken path (a log, a disk image, `/dev/zero`) costs nothing.
pub const MAX_SECRET_BYTES: u64 = 4 * 1024;

/// Largest accounts file: thousands of accounts fit in well under this.
pub const MAX_ACCOUNTS_BYTES: u64 = 16 * 1024 * 1024;

/// Largest web configuration file (the YAML; certificates are read apart).
pub const MAX_WEB_CONFIG_BYTES: u64 = 1024 * 1024;

/// The bytes of the regular file at `path`, if it holds at most `max` of them. A FIFO, a device, a socket or a
/// directory is refused without blocking: the file is opened non-blocking (so opening a FIFO with no writer
/// returns at once) and checked before any read. A file over the bound is refused from its size, and one that
/// grows past it while read is refused too.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    read_with_metadata(path, max).map(|(bytes, _)| bytes)
}

/// [`read_bounded`], with the file's metadata as it was before its bytes were read: a change after that moves
/// the metadata, so a [`Seen`] made from both never takes new bytes for old.
fn read_with_metadata(path: &Path, max: u64) -> io::Result<(Vec<u8>, std::fs::Metadata)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, a device, a socket or a directory)",
        ));
    }
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {}", shown_bytes(max)),
        )
    };
    if metadata.len() > max {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    File::take(file, max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok((bytes, metadata))
}

/// What a file held when it was read, to tell whether it changed without keeping its bytes (a secret file's
/// are a secret): its metadata, compared first since that costs one `stat` (a thousand accounts' secret files
/// are checked every few seconds), and the SHA-256 of its bytes, compared when the metadata moved (so a rewrite
/// with the same bytes is no change) or cannot be trusted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    stamp: Stamp,
    digest: [u8; 32],
    /// Whether equal metadata proves equal bytes. Not while the file's last write is within [`RACY`] of the
    /// read: another write in the same timestamp tick (1 s on some file systems) would leave the metadata as it
    /// was, so until the file has been still that long its bytes are compared (as git does for its index).
    settled: bool,
}

/// How long after its last write a file's metadata is trusted to move with its bytes.
const RACY: std::time::Duration = std::time::Duration::from_secs(2);

/// The metadata that moves when a file is written or replaced: device and inode (a rename over it, a
/// Kubernetes Secret's symlink swap), size, and modification and change times to the nanosecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// Whether the file was last written more than [`RACY`] before `now`.
    fn settled(&self, now: std::time::SystemTime) -> bool {
        let written = self.mtime.max(self.ctime);
        let written = std::time::UNIX_EPOCH
            + std::time::Duration::new(
                written.0.max(0) as u64,
                written.1.clamp(0, 999_999_999) as u32,
            );
        now.duration_since(written).is_ok_and(|age| age > RACY)
    }

    fn of(metadata: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt as _;
        Stamp {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: metadata.len(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

impl Seen {
    /// Reads the file at `path` as [`read_bounded`] does, and what it held.
    pub fn read(path: &Path, max: u64) -> io::Result<(Vec<u8>, Seen)> {
        let now = std::time::SystemTime::now();
        let (bytes, metadata) = read_with_metadata(path, max)?;
        let stamp = Stamp::of(&metadata);
        let seen = Seen {
            stamp,
            digest: digest(&bytes),
            settled: stamp.settled(now),
        };
        Ok((bytes, seen))
    }

    /// Whether the file at `path` still holds what was seen: a `stat` when its metadata has not moved and can be
    /// trusted, else a read and a digest (after which the new metadata is remembered if the bytes are the same).
    /// `compare` always compares the bytes (a SIGHUP: the operator asks for a re-read). A file that cannot be
    /// read has changed.
    pub fn unchanged(&mut self, path: &Path, max: u64, compare: bool) -> bool {
        match std::fs::metadata(path) {
            Ok(metadata) if self.settled && !compare && Stamp::of(&metadata) == self.stamp => {
                return true;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
        match Seen::read(path, max) {
            Ok((_, now)) if now.digest == self.digest => {
                *self = now;
                true
            }
            _ => false,
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// [`read_bounded`], as UTF-8 text, and what the file held ([`Seen`]).
pub fn read_text_seen(path: &Path, max: u64) -> io::Result<(String, Seen)> {
    let (bytes, seen) = Seen::read(path, max)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))?;
    Ok((text, seen))
}

fn shown_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_seen_unchanged_until_its_bytes_change() {
        let dir = std::env::temp_dir().join(format!("zl-seen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "one\n").unwrap();
        let (bytes, mut seen) = Seen::read(&path, MAX_SECRET_BYTES).unwrap();
        assert_eq!(bytes, b"one\n");
        // Just written: another write in the same timestamp tick would not move the metadata, so the bytes are
        // compared until the file has been still for a while.
        assert!(!seen.settled, "a file written a moment ago");
        assert!(seen.unchanged(&path, MAX_SECRET_BYTES, false), "untouched");
        std::thread::sleep(RACY + std::time::Duration::from_millis(100));
        assert!(seen.unchanged(&path, MAX_SECRET_BYTES, false), "untouched");
        assert!(
            seen.settled,
            "read again once still: its metadata is trusted from now on"
        );
        assert!(
            seen.unchanged(&path, MAX_SECRET_BYTES, true),
            "compared on request"
        );
        // Written again with the same bytes: the metadata moved, the digest did not; the new metadata is kept.
        std::fs::write(&path, "one\n").unwrap();
        let before = seen.clone();
        assert!(seen.unchanged(&path, MAX_SECRET_BYTES, false), "same bytes");
        assert_ne!(seen, before, "the new metadata is remembered");
        // Replaced by a rename (as a Kubernetes Secret's update is), with other bytes of the same length.
        let next = dir.join("next");
        std::fs::write(&next, "two\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert!(
            !seen.unchanged(&path, MAX_SECRET_BYTES, false),
            "other bytes"
        );
        std::fs::remove_file(&path).unwrap();
        assert!(!seen.unchanged(&path, MAX_SECRET_BYTES, false), "gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn regular_files_within_the_bound_only() {
        let dir = std::env::temp_dir().join(format!("zl-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, "abc").unwrap();
        assert_eq!(read_bounded(&small, 3).unwrap(), b"abc");
        assert_eq!(read_text_seen(&small, 3).unwrap().0, "abc");
        let error = read_bounded(&small, 2).unwrap_err();
        assert_eq!(error.to_string(), "larger than 2 bytes");
        // A sparse gigabyte is refused from its size, nothing read.
        let sparse = dir.join("sparse");
        File::create(&sparse).unwrap().set_len(1 << 30).unwrap();
        let error = read_bounded(&sparse, MAX_SECRET_BYTES).unwrap_err();
        assert_eq!(error.to_string(), "larger than 4 KiB");
        // A FIFO with no writer would block a plain open for ever.
        let fifo = dir.join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = read_bounded(&fifo, MAX_SECRET_BYTES).unwrap_err();
        assert!(
            error.to_string().starts_with("not a regular file"),
            "{error}"
        );
        for special in ["/dev/zero", "/dev/null", "/tmp"] {
            let error = read_bounded(Path::new(special), MAX_SECRET_BYTES).unwrap_err();
            assert!(
                error.to_string().starts_with("not a regular file"),
                "{special}: {error}"
            );
        }
        std::fs::write(&small, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_text_seen(&small, 3).unwrap_err().to_string(),
            "not UTF-8 text"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
