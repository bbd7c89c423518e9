//! What to do during an alert, as the residents' page shows it: Markdown files staff edit
//! (`instructions.uk.md`, `instructions.en.md` in `shelters.instructions_dir`), read on every
//! request so that an edit shows at once, with the built-in text where a file is missing.
//! Raw HTML in a file is dropped: the page shows only what Markdown itself makes.

use serde::Serialize;

/// The languages the page speaks.
pub const LANGS: [&str; 2] = ["uk", "en"];

const BUILT_IN_UK: &str = include_str!("../../data/instructions.uk.md");
const BUILT_IN_EN: &str = include_str!("../../data/instructions.en.md");

/// The instructions in one language.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Instructions {
    pub lang: String,
    /// The text as HTML (headings, paragraphs, lists, emphasis, links).
    pub html: String,
    /// `file` (staff's file) or `built-in`.
    pub source: String,
}

/// The instructions in `lang` (`uk` or `en`; anything else is `None`).
pub fn instructions(dir: &std::path::Path, lang: &str) -> Option<Instructions> {
    let built_in = match lang {
        "uk" => BUILT_IN_UK,
        "en" => BUILT_IN_EN,
        _ => return None,
    };
    let file = dir.join(format!("instructions.{lang}.md"));
    let (text, source) = match std::fs::read_to_string(&file) {
        Ok(t) if !t.trim().is_empty() => (t, "file"),
        _ => (built_in.to_string(), "built-in"),
    };
    Some(Instructions {
        lang: lang.to_string(),
        html: to_html(&text),
        source: source.into(),
    })
}

/// Markdown to HTML, without any raw HTML the text holds.
pub fn to_html(markdown: &str) -> String {
    use pulldown_cmark::{Event, Parser, html};
    let events =
        Parser::new(markdown).filter(|e| !matches!(e, Event::Html(_) | Event::InlineHtml(_)));
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_files_win_and_raw_html_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let built = instructions(dir.path(), "uk").unwrap();
        assert_eq!(built.source, "built-in");
        assert!(built.html.contains("<h1>"), "{}", built.html);
        std::fs::write(
            dir.path().join("instructions.en.md"),
            "# Go\n\n<script>alert(1)</script>\n\n*now*",
        )
        .unwrap();
        let edited = instructions(dir.path(), "en").unwrap();
        assert_eq!(edited.source, "file");
        assert!(edited.html.contains("<em>now</em>"));
        assert!(!edited.html.contains("script"), "{}", edited.html);
        assert!(instructions(dir.path(), "fr").is_none());
    }
}
