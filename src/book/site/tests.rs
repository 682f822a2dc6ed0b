//! The site cut from a book: every part a page, headings moved up, the contents complete.

use super::*;

#[test]
fn headings_move_up_to_the_page_title_but_not_in_code() {
    assert_eq!(
        shifted("### rule\n\ntext\n\n#### sub\n\n```text\n# a comment\n```\n"),
        "# rule\n\ntext\n\n## sub\n\n```text\n# a comment\n```\n"
    );
}
