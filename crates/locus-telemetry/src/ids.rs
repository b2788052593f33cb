//! Random identifiers: session ids, device ids and community report ids. Never derived
//! from anything about the user or the device; only their length differs by use.

/// `bytes` random bytes as lowercase hex (from the OS's entropy source; without one, time
/// and pid still make an id unique enough for a session or a report).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: time and pid still make a session id unique enough.
        let seed = crate::recorder::now_nanos() as u64 ^ u64::from(std::process::id()) << 32;
        for (i, x) in b.iter_mut().enumerate() {
            *x = (seed >> ((i % 8) * 8)) as u8 ^ i as u8;
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_hex_of_the_asked_length_and_differ() {
        let (a, b) = (super::random_hex(8), super::random_hex(8));
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }
}
