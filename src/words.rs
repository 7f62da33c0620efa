//! Words for counts, shared by every text kwire writes (the listing, the
//! statistics, the diagnosis, the UI): `1 error`, `2 errors`.

/// `n` and the noun that agrees with it: `count(1, "error", "errors")` is
/// `1 error`, `count(0, ..)` is `0 errors`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", noun(n, one, many))
}

/// The noun that agrees with `n`.
pub fn noun<'a>(n: impl Into<u64>, one: &'a str, many: &'a str) -> &'a str {
    if n.into() == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees() {
        assert_eq!(count(0u64, "error", "errors"), "0 errors");
        assert_eq!(count(1u32, "error", "errors"), "1 error");
        assert_eq!(count(2u8, "batch", "batches"), "2 batches");
        assert_eq!(noun(1u64, "frame", "frames"), "frame");
    }
}
