//! Reading the files an operator names (secrets, the accounts file, the web configuration): regular files only,
//! each with a bound on its size that holds before a byte is read. Nothing here knows what a file means.

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
    Ok(bytes)
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_text(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
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
    fn regular_files_within_the_bound_only() {
        let dir = std::env::temp_dir().join(format!("zl-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, "abc").unwrap();
        assert_eq!(read_bounded(&small, 3).unwrap(), b"abc");
        assert_eq!(read_text(&small, 3).unwrap(), "abc");
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
            read_text(&small, 3).unwrap_err().to_string(),
            "not UTF-8 text"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
