//! How long a value the API sends may be: every id and text field becomes a label value and a key held for as
//! long as it is served, so each is bounded where it is decoded.

/// Longest instance id a page may carry. Zenlayer's are 18 digits; an id is a label value of every series of its
/// instance and a key of every snapshot, so a page of 4 KiB ids would cost hundreds of megabytes held.
pub const MAX_ID_BYTES: usize = 128;

/// Longest text field (a name, a zone, a type, a tag key or value, a status) a page may carry: each becomes a
/// label value. Longer ones fail the page as `decode` rather than being cut, since a cut value would be a
/// different one.
pub const MAX_TEXT_BYTES: usize = 512;

/// Refuses `text` longer than `max` bytes, naming the bound but not echoing the text.
pub fn check_length<E: serde::de::Error>(text: &str, max: usize, what: &str) -> Result<(), E> {
    if text.len() > max {
        return Err(E::custom(format_args!(
            "{what} of {} bytes, longer than the {max} bytes allowed",
            text.len()
        )));
    }
    Ok(())
}
