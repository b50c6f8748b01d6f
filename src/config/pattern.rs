//! Route patterns: `*` matches a run without `/`, `**` a run with `/`, and
//! every other character is literal (so `dependabot[bot]` is exact and
//! `*[bot]` matches every bot account). Compiled once, with globset.

use globset::{GlobBuilder, GlobMatcher};

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    matcher: GlobMatcher,
}

impl Pattern {
    /// Compiles `pattern`; `case_insensitive` for names that the forges
    /// treat that way (repositories, accounts).
    pub fn new(pattern: &str, case_insensitive: bool) -> Result<Pattern, String> {
        if pattern.is_empty() {
            return Err("an empty pattern matches nothing".into());
        }
        let mut glob = String::with_capacity(pattern.len() + 8);
        let mut rest = pattern;
        while !rest.is_empty() {
            let stars = rest.len() - rest.trim_start_matches('*').len();
            if stars > 2 {
                return Err(format!(
                    "`{}` has {stars} `*` in a row; use `*` (within one path segment) or `**` (across `/`)",
                    pattern
                ));
            }
            if stars == 2 {
                let consumed = pattern.len() - rest.len();
                let before_ok = consumed == 0 || pattern[..consumed].ends_with('/');
                let after_ok = rest.len() == 2 || rest[2..].starts_with('/');
                if !before_ok || !after_ok {
                    return Err(format!(
                        "`{pattern}`: `**` must stand alone between `/` (like `acme/**` or `**/api`); use `*` inside a name"
                    ));
                }
            }
            glob.push_str(&rest[..stars]);
            rest = &rest[stars..];
            let literal_len = rest.find('*').unwrap_or(rest.len());
            glob.push_str(&globset::escape(&rest[..literal_len]));
            rest = &rest[literal_len..];
        }
        let matcher = GlobBuilder::new(&glob)
            .literal_separator(true)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|e| format!("`{pattern}` is not a valid pattern: {}", e.kind()))?
            .compile_matcher();
        Ok(Pattern {
            source: pattern.to_string(),
            matcher,
        })
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.matcher.is_match(s)
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Any-of a list of patterns.
#[derive(Debug, Clone)]
pub struct PatternSet {
    patterns: Vec<Pattern>,
}

impl PatternSet {
    pub fn new(patterns: &[String], case_insensitive: bool) -> Result<PatternSet, String> {
        let patterns = patterns
            .iter()
            .map(|p| Pattern::new(p, case_insensitive))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PatternSet { patterns })
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.patterns.iter().any(|p| p.is_match(s))
    }

    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(Pattern::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new(p, true).unwrap().is_match(s)
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(m("acme/*", "acme/api"));
        assert!(!m("acme/*", "acme/api/sub"));
        assert!(!m("acme/*", "other/api"));
        assert!(m("acme/**", "acme/api/sub"));
        assert!(m("**", "datasets/user/name"));
        assert!(m("*", "main"));
        assert!(!m("*", "release/1.0"));
    }

    #[test]
    fn brackets_and_braces_are_literal() {
        assert!(m("dependabot[bot]", "dependabot[bot]"));
        assert!(!m("dependabot[bot]", "dependabott"));
        assert!(m("*[bot]", "renovate[bot]"));
        assert!(!m("*[bot]", "alice"));
        assert!(m("a{b,c}?", "a{b,c}?"));
        assert!(!m("a{b,c}?", "ab1"));
    }

    #[test]
    fn case_follows_the_flag() {
        assert!(m("Acme/*", "acme/API"));
        assert!(!Pattern::new("Main", false).unwrap().is_match("main"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Pattern::new("", true).is_err());
        assert!(Pattern::new("a***", true).is_err());
        assert!(Pattern::new("ac**me", true).is_err());
    }
}
