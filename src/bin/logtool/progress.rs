//! Progress bars for long work (`dump`, `verify`, opening a store that
//! recovers): drawn on stderr only when stderr is a terminal and output is
//! not `--json`, so pipes, scripts and tests see nothing of them.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over a known amount of work (bytes or partitions), or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
}

/// Whether a bar may be drawn: stderr is a terminal and output is for people.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

impl Progress {
    /// A bar for `what` over `total` bytes; hidden unless [`wanted`].
    pub fn new(what: &str, total: u64, json: bool) -> Self {
        Self::with_style(what, total, json, "{bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
    }

    /// A bar for `what` over `total` items (`unit`, e.g. "partitions").
    pub fn items(what: &str, total: u64, unit: &str, json: bool) -> Self {
        Self::with_style(what, total, json, &format!("{{pos}}/{{len}} {unit} ({{elapsed}})"))
    }

    fn with_style(what: &str, total: u64, json: bool, counts: &str) -> Self {
        if !wanted(json) || total == 0 {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template = format!("{what:>8} [{{bar:40}}] {counts}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// `n` more done.
    pub fn advance(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Sets how much is done of how much.
    pub fn set(&mut self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The bar of a store's open: partitions loaded (and recovered) of every log
/// directory, fed by the library's `strata::load` events. Shown only when
/// loading takes more than [`LOAD_BAR_AFTER`], so a quick open draws nothing.
pub struct LoadBar {
    started: std::time::Instant,
    state: parking_lot::Mutex<LoadState>,
}

#[derive(Default)]
struct LoadState {
    /// `(loaded, total)` per log directory.
    dirs: std::collections::BTreeMap<String, (u64, u64)>,
    bar: Option<Progress>,
}

/// How long an open runs before its bar appears.
pub const LOAD_BAR_AFTER: Duration = Duration::from_millis(500);

static LOAD_BAR: std::sync::OnceLock<std::sync::Arc<LoadBar>> = std::sync::OnceLock::new();

/// Listens to the library's load events when a bar is [`wanted`] (call once,
/// before opening the store).
pub fn watch_store_open(json: bool) {
    if !wanted(json) {
        return;
    }
    let bar = std::sync::Arc::new(LoadBar {
        started: std::time::Instant::now(),
        state: parking_lot::Mutex::new(LoadState::default()),
    });
    if LOAD_BAR.set(std::sync::Arc::clone(&bar)).is_ok() {
        // Another global subscriber (none in logtool) would keep its place.
        let _ = tracing::subscriber::set_global_default(LoadEvents(bar));
    }
}

/// The store is open: the bar, if any, goes.
pub fn store_opened() {
    if let Some(bar) = LOAD_BAR.get() {
        let mut st = bar.state.lock();
        if let Some(mut b) = st.bar.take() {
            b.finish();
        }
        st.dirs.clear();
    }
}

impl LoadBar {
    fn loaded(&self, dir: String, loaded: u64, total: u64) {
        let mut st = self.state.lock();
        st.dirs.insert(dir, (loaded, total));
        let (done, all) = st.dirs.values().fold((0, 0), |(d, t), &(l, n)| (d + l, t + n));
        if st.bar.is_none() && self.started.elapsed() >= LOAD_BAR_AFTER && done < all {
            st.bar = Some(Progress::items("open", all, "partitions", false));
        }
        if let Some(bar) = &mut st.bar {
            bar.set(done, all);
        }
    }
}

/// A `tracing` subscriber that takes only `strata::load` events.
struct LoadEvents(std::sync::Arc<LoadBar>);

/// The fields of a `strata::load` event.
#[derive(Default)]
struct LoadFields {
    dir: String,
    loaded: u64,
    total: u64,
}

impl tracing::field::Visit for LoadFields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match field.name() {
            "loaded" => self.loaded = value,
            "total" => self.total = value,
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.record_u64(field, u64::try_from(value).unwrap_or(0));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "log_dir" {
            self.dir = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for LoadEvents {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "strata::load"
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = LoadFields::default();
        event.record(&mut fields);
        self.0.loaded(fields.dir, fields.loaded, fields.total);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
