//! Every `toml` example in the docs is a valid manifest, so the docs cannot drift
//! from the schema.

use weft_manifest::Manifest;

/// The fenced ```toml blocks of a Markdown file.
fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn app_guide_manifests_parse() {
    let guide = include_str!("../../../../docs/app-guide.md");
    let blocks = toml_blocks(guide);
    assert!(!blocks.is_empty(), "docs/app-guide.md has no toml example");
    for block in blocks {
        if let Err(error) = Manifest::parse(&block) {
            panic!("docs/app-guide.md example does not parse: {error}\n{block}");
        }
    }
}

#[test]
fn crate_docs_manifest_parses() {
    let lib = include_str!("../src/lib.rs");
    let doc: String = lib
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| format!("{}\n", line.strip_prefix(' ').unwrap_or(line)))
        .collect();
    let blocks = toml_blocks(&doc);
    assert_eq!(blocks.len(), 1);
    Manifest::parse(&blocks[0]).unwrap();
}
