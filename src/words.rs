//! Words for counts, shared by every text kwire writes (the listing, the
//! statistics, the diagnosis, the UI): `1 error`, `2 errors`.

/// `n` and the noun that agrees with it: `count(1, "error", "errors")` is
/// `1 error`, `count(0, ..)` is `0 errors`.
pub fn count<N: Count>(n: N, one: &str, many: &str) -> String {
    format!("{n} {}", noun(n, one, many))
}

/// The noun that agrees with `n`.
pub fn noun<'a, N: Count>(n: N, one: &'a str, many: &'a str) -> &'a str {
    if n == N::from(1) { one } else { many }
}

/// A count of any integer type.
pub trait Count: Copy + PartialEq + From<u8> + std::fmt::Display {}

impl<N: Copy + PartialEq + From<u8> + std::fmt::Display> Count for N {}

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
