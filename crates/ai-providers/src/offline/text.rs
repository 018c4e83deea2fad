//! Sentence splitting and word tokenisation for the offline analyzer.
//! Everything works on `&str` slices of the caller's (wiped) buffers; nothing
//! indexes by byte offsets that could fall inside a UTF-8 sequence.

/// Abbreviations whose trailing period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "approx",
    "appt", "dept", "min", "hr", "hrs",
];

fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？')
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»')
}

/// Splits `text` into sentences: a run of terminal punctuation (plus closing
/// quotes/brackets) followed by whitespace or the end, or a line break, ends a
/// sentence — except after a known abbreviation. Returned slices are trimmed
/// and non-empty, in order.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let boundary_end = if c == '\n' || c == '\r' || c == '\u{2029}' || c == '\u{2028}' {
            Some(i)
        } else if is_terminal(c) {
            // Consume the rest of the punctuation run and closers.
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                if is_terminal(d) || is_closer(d) {
                    end = j + d.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            let at_break = match iter.peek() {
                None => true,
                Some(&(_, d)) => d.is_whitespace(),
            };
            if at_break && !(c == '.' && ends_with_abbreviation(&text[start..i])) {
                Some(end)
            } else {
                None
            }
        } else {
            None
        };
        if let Some(end) = boundary_end {
            push_trimmed(&mut out, &text[start..end]);
            start = end;
        }
    }
    push_trimmed(&mut out, &text[start..]);
    out
}

fn push_trimmed<'a>(out: &mut Vec<&'a str>, s: &'a str) {
    let t = s.trim();
    if !t.is_empty() {
        out.push(t);
    }
}

fn ends_with_abbreviation(before: &str) -> bool {
    let last = before
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("")
        .trim_start_matches(|c: char| !c.is_alphanumeric());
    if last.is_empty() {
        return false;
    }
    let lower = last.to_lowercase();
    // Single letters ("J. Smith") are initials.
    ABBREVIATIONS.contains(&lower.as_str())
        || (lower.chars().count() == 1 && lower.chars().all(char::is_alphabetic))
}

/// Lower-cased word tokens: maximal runs of alphanumeric characters,
/// apostrophes inside a word are dropped (`don't` → `dont`, `I’m` → `im`),
/// everything else separates words.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                cur.push(l);
            }
        } else if matches!(c, '\'' | '’' | 'ʼ') && !cur.is_empty() {
            // apostrophe inside a word: skip it, keep the word going
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences() {
        assert_eq!(
            sentences("I saw Dr. Lee today. It went well!! Then what?\nNew line without stop"),
            vec![
                "I saw Dr. Lee today.",
                "It went well!!",
                "Then what?",
                "New line without stop"
            ]
        );
        assert_eq!(
            sentences("It cost 3.50 dollars. Fine."),
            vec!["It cost 3.50 dollars.", "Fine."]
        );
        assert_eq!(
            sentences("She said \"stop.\" I did."),
            vec!["She said \"stop.\"", "I did."]
        );
        assert!(sentences("").is_empty());
        assert!(sentences(" \n\n\t ").is_empty());
        assert_eq!(sentences("...").len(), 1);
        assert_eq!(sentences("Oh… well. ok"), vec!["Oh…", "well.", "ok"]);
    }

    #[test]
    fn tokenises_words() {
        assert_eq!(
            words("I don't KNOW, I’m tired-ish."),
            vec!["i", "dont", "know", "im", "tired", "ish"]
        );
        assert!(words("🙂 !!").is_empty());
        assert_eq!(words("'quoted'"), vec!["quoted"]);
    }
}
