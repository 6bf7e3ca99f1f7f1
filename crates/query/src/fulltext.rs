//! Full-text matching for `Text` attributes, the way Temporal's SQLite visibility store (the
//! dev server's) does it.
//!
//! A query literal is split at spaces into terms, and `Text = 'quick fox'` holds when *any*
//! term occurs in the value: Temporal builds the full-text query `"quick" OR "fox"`. A term
//! occurs when its words appear consecutively among the value's words, where a word is a
//! maximal run of letters and digits, compared case-insensitively; so `fox` occurs in
//! `The quick brown fox.` and `brown-fox` (the phrase `brown fox`) does too. A literal with no
//! terms is rejected when parsing, as in Temporal. Unlike SQLite's `unicode61` tokenizer,
//! diacritics are not folded: `cafe` does not match `café`.

/// Returns the terms of a query literal: its non-empty, space-separated pieces.
fn terms(query: &str) -> impl Iterator<Item = &str> {
    query.split(' ').filter(|term| !term.is_empty())
}

/// Returns whether a query literal has a term, which a `Text` comparison requires.
pub(crate) fn has_terms(query: &str) -> bool {
    terms(query).next().is_some()
}

/// Returns the lower-cased words of `text`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Returns whether `phrase` appears as consecutive words of `words`; an empty phrase never
/// does.
fn contains_phrase(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|window| window == phrase)
}

/// Returns whether any term of `query` occurs in `text`.
pub(crate) fn matches(text: &str, query: &str) -> bool {
    let text_words = words(text);
    terms(query).any(|term| contains_phrase(&text_words, &words(term)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_word_matches_wherever_it_occurs() {
        assert!(matches("The quick brown fox", "fox"));
        assert!(matches("The quick brown fox", "the"));
        assert!(!matches("The quick brown fox", "dog"));
        assert!(!matches("The quick brown fox", "fo"));
    }

    #[test]
    fn words_compare_case_insensitively() {
        assert!(matches("Payment FAILED", "failed"));
        assert!(matches("payment failed", "FAILED"));
        assert!(matches("ÉCOLE", "école"));
    }

    #[test]
    fn any_term_is_enough() {
        assert!(matches("quick fox", "quick dog"));
        assert!(matches("quick fox", "dog fox"));
        assert!(!matches("quick fox", "lazy dog"));
    }

    #[test]
    fn punctuation_separates_words() {
        assert!(matches("order-123: payment failed.", "order"));
        assert!(matches("order-123: payment failed.", "123"));
        assert!(matches("order-123: payment failed.", "failed."));
        assert!(!matches("order-123", "order-12"));
    }

    #[test]
    fn a_term_with_several_words_is_a_phrase() {
        assert!(matches("the brown fox jumps", "brown-fox"));
        assert!(!matches("the fox is brown", "brown-fox"));
        assert!(matches("the fox is brown", "brown fox"));
    }

    #[test]
    fn terms_without_words_match_nothing() {
        assert!(!matches("a - b", "-"));
        assert!(!matches("", "--"));
        assert!(!matches("", "a"));
    }

    #[test]
    fn literals_need_a_term() {
        assert!(has_terms("a"));
        assert!(has_terms("  a  "));
        assert!(has_terms("-"));
        assert!(!has_terms(""));
        assert!(!has_terms("   "));
    }
}
