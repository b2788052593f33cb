//! PEM blocks that span several lines. The `-----BEGIN ...-----` and `-----END ...-----`
//! lines are ordinary rules (in `patterns::secrets`); this module remembers, from one
//! line to the next, that a block has been opened, so that the base64 lines between
//! the markers are removed too. A line that does not look like PEM content ends the
//! block early, so a lone BEGIN marker cannot swallow the rest of a log.

/// Tracks whether the lines being read are inside a PEM block.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tracker {
    inside: bool,
}

impl Tracker {
    /// Whether the last line read left a block open.
    pub fn inside(&self) -> bool {
        self.inside
    }

    /// Reads the next line. Returns the replacement for it when it is the body of a
    /// block opened on an earlier line; `None` when the line is to be scrubbed normally.
    pub fn body_line(&mut self, line: &str) -> Option<String> {
        if self.inside && !line.contains("-----END ") {
            let content = line.trim();
            if content.is_empty() {
                return None;
            }
            if is_body(content) {
                let lead = line.len() - line.trim_start().len();
                let trail = line.trim_end().len();
                return Some(format!("{}<secret>{}", &line[..lead], &line[trail..]));
            }
        }
        // The END marker, or other text, closes the block; a line may also open the next.
        self.inside = false;
        if let Some(b) = line.rfind("-----BEGIN ") {
            self.inside = !line[b..].contains("-----END ");
        }
        None
    }
}

/// Base64 content or one of the RFC 1421 header lines.
fn is_body(content: &str) -> bool {
    content
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        || ["Proc-Type:", "DEK-Info:", "Comment:"]
            .iter()
            .any(|h| content.starts_with(h))
}

#[cfg(test)]
mod tests {
    use super::Tracker;

    #[test]
    fn body_between_markers() {
        let mut t = Tracker::default();
        assert_eq!(t.body_line("-----BEGIN PRIVATE KEY-----"), None);
        assert_eq!(
            t.body_line("  MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
            Some("  <secret>".into())
        );
        assert_eq!(t.body_line("-----END PRIVATE KEY-----"), None);
        assert_eq!(t.body_line("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), None);
    }

    #[test]
    fn a_line_can_close_one_block_and_open_the_next() {
        let mut t = Tracker::default();
        t.body_line("-----BEGIN CERTIFICATE-----");
        assert_eq!(
            t.body_line("-----END CERTIFICATE----- -----BEGIN PRIVATE KEY-----"),
            None
        );
        assert_eq!(
            t.body_line("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
            Some("<secret>".into())
        );
    }

    #[test]
    fn other_text_ends_the_block() {
        let mut t = Tracker::default();
        t.body_line("key: -----BEGIN CERTIFICATE-----");
        assert_eq!(t.body_line("2026-11-27T01:02:03Z INFO sync done"), None);
        assert_eq!(t.body_line("abc"), None);
    }
}
