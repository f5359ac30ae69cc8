//! Progress bars on stderr (hidden when stderr is not a terminal, e.g. in tests).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `len` steps.
pub fn counter(len: u64, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>22} [{elapsed_precise}] {wide_bar:.cyan/blue} {pos}/{len} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

/// A bar over a fixed duration, advanced in milliseconds.
pub fn timed(total: Duration, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(total.as_millis() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>22} [{elapsed_precise}] {wide_bar:.cyan/blue} {percent:>3}% {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

/// A spinner for a step of unknown length.
pub fn spinner(msg: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A line on stderr.
pub fn println(line: &str) {
    eprintln!("{line}");
}
