//! `.dockerignore`: which files of the build context `COPY . .` leaves out, decided the way
//! BuildKit decides it (moby/patternmatcher for the patterns, fsutil's filtered walk for the
//! tree), so that a layer written here holds the files a real build would copy.
//!
//! Reading the file: a line whose first character is `#` is a comment (a `#` after leading
//! spaces is not); lines are trimmed and blank ones skipped; a leading `!` makes an exception
//! (re-inclusion); the rest is cleaned like Go's `filepath.Clean` (`./a` is `a`, `a/` is `a`,
//! `a/../b` is `b`) and loses one leading `/`. A lone `!` is an error, as is a pattern Go's
//! `filepath.Match` calls malformed (an unclosed `[`, a trailing `\`), and so is a class range
//! that runs backwards.
//!
//! Matching a path: `*` is any run of characters but `/`, `?` one character but `/`, `[a-z]` and
//! `[^a-z]` classes (a negated class matches `/` too), `\` escapes the next character, and `**`
//! any number of folders: `**/x` is `x` at any depth, `a/**` everything under `a`, `a/**/b` `b`
//! at any depth under `a`. Patterns without wildcards compare whole paths. The quirks of moby's
//! translation are kept: a pattern that starts with `**` and has no other wildcard is a plain
//! suffix test (`**foo` matches `xfoo`), `**` never crosses a newline in a name, and in a pattern
//! with wildcards a `^` outside a class is an anchor (`*^b` matches only `b`).
//!
//! Walking the tree, a path's verdict comes from the patterns in order, the last one that
//! matches deciding, where a folder that matched a pattern passes that match on to everything
//! inside it (so `docs` excludes `docs/a/b.md`). An excluded folder is not entered unless an
//! exception could re-include something inside it; when one does, the folder is copied too
//! (with its own mode), since COPY needs it to hold the file. fsutil passes a folder's matches
//! on only for the patterns it evaluated for that folder, and skips a pattern whose result could
//! not change the verdict so far: so with `docs`, `!docs/keep.md`, `d*` the file `docs/keep.md`
//! is copied although `d*` matches its folder. This module does the same; the legacy builder
//! (`DOCKER_BUILDKIT=0`) would leave it out.
//!
//! BuildKit reads `Dockerfile.dockerignore` instead of `.dockerignore` when both exist; so does
//! [`DockerIgnore::load`]. The Dockerfile and the ignore file are always read by the build, but
//! `COPY . .` leaves them out when they are listed, as it does here.
//!
//! Escapes of letters and digits (`\d`, `\w`, `\n`...) and `*`, `?` or `[` inside a class mean
//! something odd in moby's regular-expression translation (a digit class, a newline...): rather
//! than reproduce that, such patterns are refused as [`DockerIgnoreError::Unsupported`], and a
//! caller falls back to a real build. Supporting them means mirroring Go's `regexp` escapes.

use std::path::{Path, PathBuf};

/// The ignore files BuildKit reads, in order of precedence.
pub const IGNORE_FILES: [&str; 2] = ["Dockerfile.dockerignore", ".dockerignore"];

/// What fsutil counts as wildcards when it decides whether an exception is a plain path.
const WILDCARDS: &[char] = &['*', '[', ']', '?', '^', '\\'];

#[derive(Debug, thiserror::Error)]
pub enum DockerIgnoreError {
    #[error("`{file}` line {line}: the pattern `{pattern}` is not valid: {reason}")]
    Invalid {
        file: String,
        line: usize,
        pattern: String,
        reason: &'static str,
    },
    #[error("`{file}` line {line}: the pattern `{pattern}` is not supported: {reason}")]
    Unsupported {
        file: String,
        line: usize,
        pattern: String,
        reason: &'static str,
    },
    #[error("`{0}` is not UTF-8 text")]
    NotUtf8(PathBuf),
    #[error("reading `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DockerIgnoreError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            DockerIgnoreError::Invalid { .. } => {
                Some("fix the pattern: a Docker build would fail on it too")
            }
            DockerIgnoreError::Unsupported { .. } => Some(
                "write the pattern without letter escapes or wildcards inside `[...]`, or build \
                 the image with Docker",
            ),
            _ => None,
        }
    }
}

/// The parsed ignore file of a build context.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
    /// Whether an exception has wildcards: fsutil then enters every excluded folder.
    wildcard_exceptions: bool,
    source: Option<String>,
}

/// Which patterns a folder matched, passed on to what is inside it. Empty for the context root.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirMatches(Vec<bool>);

/// What the walk does with one path.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub excluded: bool,
    /// For a folder: whether to look inside it (an excluded one may hold exceptions).
    pub descend: bool,
    /// For a folder: what its children inherit.
    pub matches: DirMatches,
}

impl DockerIgnore {
    /// Parses the text of an ignore file; errors name it `.dockerignore`.
    pub fn parse(text: &str) -> Result<Self, DockerIgnoreError> {
        Self::parse_named(text, ".dockerignore")
    }

    /// Reads the ignore file of the context at `project_root`; none means nothing is ignored.
    pub fn load(project_root: &Path) -> Result<Self, DockerIgnoreError> {
        for name in IGNORE_FILES {
            let path = project_root.join(name);
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(DockerIgnoreError::Read { path, source }),
            };
            let text = String::from_utf8(bytes).map_err(|_| DockerIgnoreError::NotUtf8(path))?;
            return Self::parse_named(&text, name);
        }
        Ok(Self::default())
    }

    /// The file the patterns came from, if any.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Whether `COPY . .` leaves out the path (relative to the context, `/`-separated).
    ///
    /// A folder reported excluded is still copied when something inside it is re-included by
    /// an exception; the layer writer takes care of that while walking.
    pub fn is_excluded(&self, relative_path: &str, is_dir: bool) -> bool {
        let cleaned = clean(relative_path.trim_start_matches('/'));
        if cleaned == "." || cleaned == ".." || cleaned.starts_with("../") {
            return false;
        }

        let mut parent = DirMatches::default();
        let mut prefix_end = 0;
        while let Some(slash) = cleaned[prefix_end..].find('/') {
            prefix_end += slash;
            let verdict = self.verdict(&cleaned[..prefix_end], true, &parent);
            if !verdict.descend {
                return true;
            }
            parent = verdict.matches;
            prefix_end += 1;
        }
        self.verdict(&cleaned, is_dir, &parent).excluded
    }

    /// Decides one path of the walk, given what its folder matched.
    pub(crate) fn verdict(&self, path: &str, is_dir: bool, parent: &DirMatches) -> Verdict {
        let (excluded, matches) = self.matches(path, parent);
        let descend = is_dir && (!excluded || self.may_reinclude_under(path));
        Verdict {
            excluded,
            descend,
            matches: DirMatches(matches),
        }
    }

    fn parse_named(text: &str, file: &str) -> Result<Self, DockerIgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (index, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(pattern) = Pattern::from_line(line).transpose() {
                patterns.push(pattern.map_err(|error| error.at(file, index + 1, line.trim()))?);
            }
        }

        let wildcard_exceptions = patterns
            .iter()
            .filter(|pattern| pattern.exception)
            .any(|pattern| without_trailing_glob(&pattern.text).contains(WILDCARDS));
        Ok(Self {
            patterns,
            wildcard_exceptions,
            source: Some(file.to_owned()),
        })
    }

    /// The verdict and the per-pattern matches, with fsutil's skipping of patterns that could
    /// not change the verdict (their match is then not passed on).
    fn matches(&self, path: &str, parent: &DirMatches) -> (bool, Vec<bool>) {
        let mut excluded = false;
        let mut matched = vec![false; self.patterns.len()];
        for (index, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.0.get(index).copied().unwrap_or(false);
            if !hit {
                if pattern.exception != excluded {
                    continue;
                }
                hit = pattern.matcher.matches(path);
            }
            matched[index] = hit;
            if hit {
                excluded = !pattern.exception;
            }
        }
        (excluded, matched)
    }

    /// fsutil's test for entering an excluded folder: any exception when one has wildcards,
    /// otherwise an exception naming a path inside the folder.
    fn may_reinclude_under(&self, dir: &str) -> bool {
        if self.wildcard_exceptions {
            return true;
        }
        let dir_slash = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|pattern| pattern.exception)
            .any(|pattern| {
                format!("{}/", without_trailing_glob(&pattern.text)).starts_with(&dir_slash)
            })
    }
}

/// One line of the ignore file.
#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern without its `!`.
    text: String,
    exception: bool,
    matcher: Matcher,
}

/// Why a line is not a pattern this module can use; placed on its line by the caller.
enum LineError {
    Invalid(&'static str),
    Unsupported(&'static str),
}

impl LineError {
    fn at(self, file: &str, line: usize, pattern: &str) -> DockerIgnoreError {
        let (file, pattern) = (file.to_owned(), pattern.to_owned());
        match self {
            LineError::Invalid(reason) => DockerIgnoreError::Invalid {
                file,
                line,
                pattern,
                reason,
            },
            LineError::Unsupported(reason) => DockerIgnoreError::Unsupported {
                file,
                line,
                pattern,
                reason,
            },
        }
    }
}

impl Pattern {
    /// Reads one line as moby's `ignorefile.ReadAll` and `patternmatcher.New` do together.
    fn from_line(line: &str) -> Result<Option<Self>, LineError> {
        if line.starts_with('#') {
            return Ok(None);
        }
        let line = line.trim();
        if line.is_empty() {
            return Ok(None);
        }

        let exception = line.starts_with('!');
        let mut text = if exception { line[1..].trim() } else { line }.to_owned();
        if !text.is_empty() {
            text = clean(&text);
            if text.len() > 1 && text.starts_with('/') {
                text.remove(0);
            }
        }
        if exception {
            // patternmatcher cleans again with the `!` in front: `!/` becomes a lone `!`.
            text = match clean(&format!("!{text}")).strip_prefix('!') {
                Some(rest) if !rest.is_empty() => rest.to_owned(),
                _ => return Err(LineError::Invalid("`!` must be followed by a pattern")),
            };
        }

        check_go_glob_syntax(&text)?;
        let matcher = Matcher::compile(&text)?;
        Ok(Some(Self {
            text,
            exception,
            matcher,
        }))
    }
}

/// Go's `filepath.Clean` on a `/`-separated path.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }

    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// fsutil's `patternWithoutTrailingGlob`.
fn without_trailing_glob(pattern: &str) -> &str {
    let pattern = pattern.strip_suffix("/**").unwrap_or(pattern);
    pattern.strip_suffix("/*").unwrap_or(pattern)
}

/// The syntax check moby makes by calling Go's `filepath.Match(pattern, ".")`.
fn check_go_glob_syntax(pattern: &str) -> Result<(), LineError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut at = 0;
    while at < chars.len() {
        match chars[at] {
            '\\' if at + 1 == chars.len() => return Err(LineError::Invalid("it ends with `\\`")),
            '\\' => at += 2,
            '[' => at = check_go_class(&chars, at + 1)?,
            _ => at += 1,
        }
    }
    Ok(())
}

/// Checks a class that opened before `at`; returns the index after its `]`.
fn check_go_class(chars: &[char], mut at: usize) -> Result<usize, LineError> {
    let unclosed = LineError::Invalid("a `[` class is not closed or is empty");
    if chars.get(at) == Some(&'^') {
        at += 1;
    }
    let mut ranges = 0;
    loop {
        match chars.get(at) {
            None => return Err(unclosed),
            Some(']') if ranges > 0 => return Ok(at + 1),
            Some(_) => {}
        }
        at = class_char(chars, at)
            .ok_or(LineError::Invalid("a `[` class is malformed"))?
            .1;
        if chars.get(at) == Some(&'-') {
            at = class_char(chars, at + 1)
                .ok_or(LineError::Invalid("a range is malformed"))?
                .1;
        }
        ranges += 1;
    }
}

/// One character of a class, escaped or not, as Go's `getEsc` reads it; `-` and `]` may not
/// start one. Returns the character and the index after it.
fn class_char(chars: &[char], at: usize) -> Option<(char, usize)> {
    match chars.get(at)? {
        '-' | ']' => None,
        '\\' => chars.get(at + 1).map(|&c| (c, at + 2)),
        &c => Some((c, at + 1)),
    }
}

/// How a pattern compares with a path: moby picks the first three when it can.
#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Tokens(Vec<Token>),
}

/// One piece of moby's regular expression.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `?`: `[^/]`.
    One,
    /// `*`: `[^/]*`.
    Star,
    /// `**` before more pattern: `(.*/)?`.
    Folders,
    /// `**` at the end: `.*`.
    Rest,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A `^` outside a class: an anchor that only matches at the start.
    Start,
}

/// What moby's `compile` concluded about a pattern so far.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regexp,
}

impl Matcher {
    /// Follows moby's `Pattern.compile` step by step, building tokens instead of a regexp.
    fn compile(pattern: &str) -> Result<Self, LineError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut kind = Kind::Exact;
        let mut at = 0;
        let mut step = 0;
        while at < chars.len() {
            let c = chars[at];
            at += 1;
            match c {
                '*' if chars.get(at) == Some(&'*') => {
                    at += 1;
                    if chars.get(at) == Some(&'/') {
                        at += 1;
                    }
                    kind = double_star(&mut tokens, kind, at == chars.len());
                    if step == 0 {
                        kind = Kind::Suffix;
                    }
                }
                '*' | '?' => {
                    tokens.push(if c == '*' { Token::Star } else { Token::One });
                    kind = Kind::Regexp;
                }
                '\\' => {
                    let next = chars
                        .get(at)
                        .ok_or(LineError::Invalid("it ends with `\\`"))?;
                    tokens.push(Token::Literal(escaped(*next)?));
                    at += 1;
                    kind = Kind::Regexp;
                }
                '[' => {
                    let (class, next) = compile_class(&chars, at)?;
                    tokens.push(class);
                    at = next;
                    kind = Kind::Regexp;
                }
                ']' => {
                    tokens.push(Token::Literal(']'));
                    kind = Kind::Regexp;
                }
                '^' => tokens.push(Token::Start),
                _ => tokens.push(Token::Literal(c)),
            }
            step += 1;
        }

        Ok(match kind {
            Kind::Exact => Matcher::Exact(pattern.to_owned()),
            Kind::Prefix => {
                Matcher::Prefix(pattern.strip_suffix("**").unwrap_or(pattern).to_owned())
            }
            Kind::Suffix => Matcher::Suffix(pattern.get(2..).unwrap_or("").to_owned()),
            Kind::Regexp => Matcher::Tokens(tokens),
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Matcher::Exact(text) => path == text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Matcher::Tokens(tokens) => tokens_match(tokens, path),
        }
    }
}

/// Adds a `**`; `at_end` when nothing follows it.
fn double_star(tokens: &mut Vec<Token>, kind: Kind, at_end: bool) -> Kind {
    if !at_end {
        tokens.push(Token::Folders);
        return Kind::Regexp;
    }
    if kind == Kind::Exact {
        return Kind::Prefix;
    }
    tokens.push(Token::Rest);
    Kind::Regexp
}

/// The character a `\` escapes. Go's regexp reads an escaped ASCII punctuation mark as itself;
/// anything else is a class or an error there, so it is refused here.
fn escaped(c: char) -> Result<char, LineError> {
    if c.is_ascii() && !c.is_ascii_alphanumeric() {
        Ok(c)
    } else {
        Err(LineError::Unsupported("only punctuation may follow a `\\`"))
    }
}

/// Reads the class after a `[` (already syntax-checked); returns it and the index after `]`.
fn compile_class(chars: &[char], mut at: usize) -> Result<(Token, usize), LineError> {
    let negated = chars.get(at) == Some(&'^');
    if negated {
        at += 1;
    }

    let mut ranges = Vec::new();
    while chars.get(at) != Some(&']') || ranges.is_empty() {
        let (low, next) = class_member(chars, at)?;
        let (high, next) = match chars.get(next) {
            Some('-') => class_member(chars, next + 1)?,
            _ => (low, next),
        };
        if low > high {
            return Err(LineError::Invalid("a class range runs backwards"));
        }
        ranges.push((low, high));
        at = next;
    }
    Ok((Token::Class { negated, ranges }, at + 1))
}

fn class_member(chars: &[char], at: usize) -> Result<(char, usize), LineError> {
    let (c, next) = class_char(chars, at).ok_or(LineError::Invalid("a class is malformed"))?;
    if next == at + 2 {
        return Ok((escaped(c)?, next));
    }
    if matches!(c, '*' | '?' | '[') {
        return Err(LineError::Unsupported(
            "`*`, `?` and `[` may not appear inside `[...]`",
        ));
    }
    Ok((c, next))
}

/// Runs the tokens over the path as a regular expression anchored at both ends, keeping the set
/// of positions each token can start from (no backtracking, so no blow-up).
fn tokens_match(tokens: &[Token], path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    let mut starts = vec![false; chars.len() + 1];
    starts[0] = true;

    for token in tokens {
        let mut next = vec![false; chars.len() + 1];
        for from in (0..=chars.len()).filter(|&from| starts[from]) {
            advance(token, &chars, from, &mut next);
        }
        starts = next;
    }
    starts[chars.len()]
}

/// Marks every position the token can end at when it starts at `from`.
fn advance(token: &Token, chars: &[char], from: usize, ends: &mut [bool]) {
    let single = |accepts: &dyn Fn(char) -> bool, ends: &mut [bool]| {
        if chars.get(from).is_some_and(|&c| accepts(c)) {
            ends[from + 1] = true;
        }
    };
    match token {
        Token::Literal(literal) => single(&|c| c == *literal, ends),
        Token::One => single(&|c| c != '/', ends),
        Token::Class { negated, ranges } => single(
            &|c| ranges.iter().any(|&(low, high)| low <= c && c <= high) != *negated,
            ends,
        ),
        Token::Start => ends[from] |= from == 0,
        Token::Star => run(chars, from, ends, |c| c != '/', |_| true),
        Token::Rest => run(chars, from, ends, |c| c != '\n', |_| true),
        Token::Folders => run(
            chars,
            from,
            ends,
            |c| c != '\n',
            |end| chars[end - 1] == '/',
        ),
    }
}

/// Marks the end of the empty run at `from` and of every longer run of characters that
/// `continues`, where `ends_here` allows it.
fn run(
    chars: &[char],
    from: usize,
    ends: &mut [bool],
    continues: impl Fn(char) -> bool,
    ends_here: impl Fn(usize) -> bool,
) {
    ends[from] = true;
    let mut end = from;
    while end < chars.len() && continues(chars[end]) {
        end += 1;
        if ends_here(end) {
            ends[end] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASTRO_DEFAULT: &str = "astro\n.git\n.env\nairflow_settings.yaml\nlogs/\n.venv\n\
                                 airflow.db\nairflow.cfg\n";

    /// (ignore file, path, is a folder, excluded)
    const CASES: &[(&str, &str, bool, bool)] = &[
        ("**/*.pyc", "a.pyc", false, true),
        (
            "**/*.pyc",
            "dags/utils/__pycache__/x.cpython-311.pyc",
            false,
            true,
        ),
        ("**/*.pyc", "dags/x.pyc.txt", false, false),
        ("*.txt\n!keep.txt", "notes.txt", false, true),
        ("*.txt\n!keep.txt", "keep.txt", false, false),
        ("*.txt\n!keep.txt", "dir/notes.txt", false, false),
        ("!keep.txt\n*.txt", "keep.txt", false, true),
        ("dir/", "dir", true, true),
        ("dir/", "dir/sub/file", false, true),
        ("dir/", "dir", false, true),
        ("dir/", "dirt", false, false),
        ("/abs", "abs", false, true),
        ("/abs", "x/abs", false, false),
        ("*/temp*", "a/temporary", false, true),
        ("*/temp*", "a/b/temp", false, false),
        ("*/temp*", "temp", false, false),
        ("temp?", "temp1", false, true),
        ("temp?", "temp", false, false),
        ("temp?", "temp12", false, false),
        ("a?c", "a/c", false, false),
        ("**", "a", false, true),
        ("**", "a/b/c", false, true),
        ("*", "a/b", false, true),
        ("docs", "docs/a/b.md", false, true),
        ("docs\n!docs/keep.md", "docs/keep.md", false, false),
        ("docs\n!docs/keep.md", "docs/other.md", false, true),
        ("docs\n!docs/keep.md", "docs", true, true),
        ("logs/\n!logs/keep", "logs/keep/deep.log", false, false),
        ("logs/\n!logs/keep", "logs/other.log", false, true),
        ("logs\n!other/x", "logs/x", false, true),
        ("*\n!dags", "dags/a.py", false, false),
        ("*\n!dags", "Dockerfile", false, true),
        ("*\n!dags/*.py", "dags/a.py", false, false),
        ("*\n!dags/*.py", "dags/a.txt", false, true),
        // fsutil passes on only the matches it evaluated: `d*` was skipped for `docs`.
        ("docs\n!docs/keep.md\nd*", "docs/keep.md", false, false),
        ("docs\n!docs/keep.md\nd*", "docs/x", false, true),
        ("# comment\n\n   \n*.md", "# comment", false, false),
        ("# comment\n\n   \n*.md", "README.md", false, true),
        (" # not a comment", "# not a comment", false, true),
        ("./build", "build/out", false, true),
        ("a/../b", "b", false, true),
        ("a/../b", "a", false, false),
        ("[a-c]*.log", "b1.log", false, true),
        ("[a-c]*.log", "d1.log", false, false),
        ("[^a]*", "b", false, true),
        ("[^a]*", "a", false, false),
        ("[^a]*", "x/y", false, true),
        ("*.py[co]", "x.pyo", false, true),
        ("*.py[co]", "x.py", false, false),
        ("\\*.txt", "*.txt", false, true),
        ("\\*.txt", "a.txt", false, false),
        ("foo/**", "foo", true, false),
        ("foo/**", "foo/x/y", false, true),
        ("foo/**/bar", "foo/bar", false, true),
        ("foo/**/bar", "foo/a/b/bar", false, true),
        ("foo/**/bar", "foo/bar/x", false, true),
        ("foo/**/bar", "foo/xbar", false, false),
        ("**/foo", "foo", false, true),
        ("**/foo", "a/b/foo", false, true),
        ("**/foo", "afoo", false, false),
        // A leading `**` with no other wildcard is a suffix test in moby.
        ("**foo", "xfoo", false, true),
        ("a/*/c", "a/b/c", false, true),
        ("a/*/c", "a/b/d/c", false, false),
        ("**/.git", "sub/.git/HEAD", false, true),
        ("a^b", "a^b", false, true),
        // In a regular expression a `^` is an anchor: only an empty `*` before it can match.
        ("*^b", "a^b", false, false),
        ("*^b", "b", false, true),
        ("/", "a", false, false),
        (".", "a", false, false),
        ("a\r\nb\r\n", "b", false, true),
        ("\u{feff}bom", "bom", false, true),
        (ASTRO_DEFAULT, ".git/HEAD", false, true),
        (ASTRO_DEFAULT, "astro/config.yaml", false, true),
        (ASTRO_DEFAULT, ".env", false, true),
        (ASTRO_DEFAULT, "logs/scheduler/latest/x.log", false, true),
        (ASTRO_DEFAULT, "airflow_settings.yaml", false, true),
        (ASTRO_DEFAULT, "dags/.env", false, false),
        (ASTRO_DEFAULT, "dags/logs/x.py", false, false),
        (ASTRO_DEFAULT, "include/airflow_settings.yaml", false, false),
        (ASTRO_DEFAULT, ".envrc", false, false),
        (ASTRO_DEFAULT, "requirements.txt", false, false),
        (ASTRO_DEFAULT, "dags/example_dag.py", false, false),
    ];

    #[test]
    fn patterns_decide_like_buildkit() {
        let mut wrong = Vec::new();
        for &(text, path, is_dir, expected) in CASES {
            let ignore = DockerIgnore::parse(text).unwrap();
            if ignore.is_excluded(path, is_dir) != expected {
                wrong.push(format!(
                    "{text:?} on {path:?}: expected excluded={expected}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn paths_are_cleaned_before_matching() {
        let ignore = DockerIgnore::parse("docs\n").unwrap();
        assert!(ignore.is_excluded("./docs/a.md", false));
        assert!(ignore.is_excluded("/docs/", true));
        assert!(!ignore.is_excluded(".", true));
        assert!(!ignore.is_excluded("../docs", true));
    }

    #[test]
    fn bad_patterns_are_named_with_their_line() {
        let cases = [
            (
                "a\n!\n",
                "`.dockerignore` line 2: the pattern `!` is not valid",
            ),
            (
                "!/",
                "`.dockerignore` line 1: the pattern `!/` is not valid",
            ),
            (
                "x\ny\n[abc",
                "`.dockerignore` line 3: the pattern `[abc` is not valid",
            ),
            (
                "[]a]",
                "`.dockerignore` line 1: the pattern `[]a]` is not valid",
            ),
            (
                "a\\",
                "`.dockerignore` line 1: the pattern `a\\` is not valid",
            ),
            (
                "[z-a]",
                "`.dockerignore` line 1: the pattern `[z-a]` is not valid",
            ),
            (
                "\\d",
                "`.dockerignore` line 1: the pattern `\\d` is not supported",
            ),
            (
                "[*]",
                "`.dockerignore` line 1: the pattern `[*]` is not supported",
            ),
        ];
        for (text, start) in cases {
            let error = DockerIgnore::parse(text).unwrap_err().to_string();
            assert!(error.starts_with(start), "{text:?}: {error}");
        }
    }

    #[test]
    fn the_dockerfile_specific_ignore_file_wins_and_none_ignores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let none = DockerIgnore::load(dir.path()).unwrap();
        assert!(!none.is_excluded(".git/HEAD", false));
        assert_eq!(none.source(), None);

        std::fs::write(dir.path().join(".dockerignore"), ".git\n").unwrap();
        let plain = DockerIgnore::load(dir.path()).unwrap();
        assert!(plain.is_excluded(".git/HEAD", false));
        assert_eq!(plain.source(), Some(".dockerignore"));

        std::fs::write(dir.path().join("Dockerfile.dockerignore"), "logs\n").unwrap();
        let specific = DockerIgnore::load(dir.path()).unwrap();
        assert!(!specific.is_excluded(".git/HEAD", false));
        assert!(specific.is_excluded("logs/a", false));
        assert_eq!(specific.source(), Some("Dockerfile.dockerignore"));
    }

    #[test]
    fn clean_follows_go() {
        let cases = [
            ("", "."),
            ("a/", "a"),
            ("./a//b/.", "a/b"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/b/..", "a"),
        ];
        for (path, cleaned) in cases {
            assert_eq!(clean(path), cleaned, "{path:?}");
        }
    }
}
