//! Splitting a command line into words the way the kernel does (next_arg() in
//! lib/cmdline.c): whitespace separates, double quotes group and are removed. The
//! kernel command line, `ip=` and the words made from qinit.conf all go through it.

/// Splits a command line into words, honouring double quotes like the kernel's
/// next_arg(): quotes group, and are removed.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut has_word = false;
    for c in line.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                has_word = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if has_word {
                    words.push(std::mem::take(&mut cur));
                    has_word = false;
                }
            }
            c => {
                cur.push(c);
                has_word = true;
            }
        }
    }
    if has_word {
        words.push(cur);
    }
    words
}
