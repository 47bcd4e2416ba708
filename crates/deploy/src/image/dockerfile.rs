//! The project's Dockerfile: which image it starts from, which Astro Runtime that is, and
//! whether it is a *plain* `FROM` of it, the only shape whose image a code-only deploy can
//! rebuild without a builder.
//!
//! A plain Dockerfile has one stage and nothing after its `FROM` but comments and blank lines:
//! the runtime's `ONBUILD` triggers then make the image's last layer the project's files, which
//! is the layer a code-only deploy replaces. Anything after `FROM` (even an `ENV`) may come after
//! that layer, so it makes the Dockerfile not plain, and [`NotPlain`] says which line did it.
//!
//! The file is read as BuildKit reads it: parser directives at the top (`# syntax=`,
//! `# escape=` with `\` or `` ` ``), instructions in any case, comment lines anywhere (also
//! inside a continued instruction), lines continued by the escape character, blank lines inside
//! a continuation skipped. `ARG`s before `FROM` give defaults that `$NAME`, `${NAME}` and
//! `${NAME:-word}` (also `-`, `:+`, `+`, `:?`, `?`) substitute into the image name; build
//! arguments from the command line are not known here, so a deploy that passes some must not
//! trust this analysis. Pattern substitutions (`${NAME%x}`, `${NAME#x}`, `${NAME/x/y}`) are
//! refused as [`DockerfileError::Unsupported`].
//!
//! Runtime versions come from the tag of an image named `astro-runtime` or `runtime`, in any
//! registry: its leading version, then an optional `-variant` (`base`, `python-3.11`). Versions
//! have two schemes: `X.Y.Z` up to Runtime 13 (Airflow 2), and `X.Y-N` from Runtime 3.0-1 on,
//! where `X.Y` is the Airflow 3 release and `N` counts Astro's builds of it. The second scheme
//! came later, so every `X.Y-N` is newer than every `X.Y.Z`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

/// How many characters of an instruction a [`NotPlain`] message quotes.
const QUOTED_CHARS: usize = 72;

/// What a Dockerfile builds from, and whether it does anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerfileAnalysis {
    /// The image of the first `FROM`, with `ARG` defaults substituted.
    pub base_image: String,
    pub from_line: usize,
    /// The `--platform=` flag as written.
    pub platform: Option<String>,
    /// The name after `AS`.
    pub stage_name: Option<String>,
    /// Set when the base image is an Astro Runtime image with a version in its tag.
    pub runtime: Option<RuntimeImage>,
    /// The first thing that makes the Dockerfile more than a plain `FROM`.
    pub not_plain: Option<NotPlain>,
}

impl DockerfileAnalysis {
    pub fn is_plain(&self) -> bool {
        self.not_plain.is_none()
    }
}

/// The first instruction after `FROM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotPlain {
    pub line: usize,
    /// The instruction, its continuation lines joined and its spaces collapsed.
    pub instruction: String,
    /// Whether it is a second `FROM`.
    pub second_stage: bool,
}

impl fmt::Display for NotPlain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = shorten(&self.instruction);
        if self.second_stage {
            write!(
                f,
                "Dockerfile line {} starts a second stage (`{quoted}`)",
                self.line
            )
        } else {
            write!(
                f,
                "Dockerfile line {} runs `{quoted}` after FROM",
                self.line
            )
        }
    }
}

/// An Astro Runtime image, read from its tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeImage {
    pub version: RuntimeVersion,
    /// What follows the version in the tag: `base`, `python-3.11`, `python-3.11-base`.
    pub variant: Option<String>,
}

impl RuntimeImage {
    /// Whether the image has the `ONBUILD` triggers that copy the project; `-base` images do
    /// not, so a plain `FROM` of one does not make the project files its last layer.
    pub fn has_onbuild(&self) -> bool {
        let variant = self.variant.as_deref().unwrap_or("");
        !variant.split('-').any(|part| part == "base")
    }
}

/// An Astro Runtime version. Versions of one scheme compare number by number (`12.10.0` >
/// `12.2.0`, `3.1-2` > `3.0-10`); every [`Scheme::AirflowRelease`] version is newer than every
/// [`Scheme::Semver`] one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuntimeVersion {
    /// First, so that it orders before the numbers.
    pub scheme: Scheme,
    pub major: u32,
    pub minor: u32,
    /// The patch of `X.Y.Z`, or the build `N` of `X.Y-N`.
    pub patch: u32,
}

/// How a runtime version is written, in the order Astro used them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// `X.Y.Z`: Runtime 4.0.0 to 13.x, with Airflow 2.
    Semver,
    /// `X.Y-N`: from Runtime 3.0-1, with Airflow 3; `X.Y` is the Airflow release.
    AirflowRelease,
}

impl RuntimeVersion {
    /// Reads a leading `X.Y.Z` or `X.Y-N` and returns it with the rest of the text.
    fn parse_leading(text: &str) -> Option<(Self, &str)> {
        let (major, rest) = leading_number(text)?;
        let (minor, rest) = leading_number(rest.strip_prefix('.')?)?;
        let (scheme, rest) = match (rest.strip_prefix('.'), rest.strip_prefix('-')) {
            (Some(rest), _) => (Scheme::Semver, rest),
            (None, Some(rest)) => (Scheme::AirflowRelease, rest),
            (None, None) => return None,
        };
        let (patch, rest) = leading_number(rest)?;
        Some((
            Self {
                scheme,
                major,
                minor,
                patch,
            },
            rest,
        ))
    }
}

impl fmt::Display for RuntimeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let separator = match self.scheme {
            Scheme::Semver => '.',
            Scheme::AirflowRelease => '-',
        };
        write!(f, "{}.{}{separator}{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for RuntimeVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Text that is not an `X.Y.Z` or `X.Y-N` version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a runtime version (X.Y.Z or X.Y-N)")]
pub struct RuntimeVersionError(pub String);

impl FromStr for RuntimeVersion {
    type Err = RuntimeVersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match Self::parse_leading(text) {
            Some((version, "")) => Ok(version),
            _ => Err(RuntimeVersionError(text.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DockerfileError {
    #[error("reading `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Dockerfile has no `FROM` instruction")]
    NoFrom,
    #[error("Dockerfile line {line}: `{instruction}` comes before the first `FROM`")]
    BeforeFrom { line: usize, instruction: String },
    #[error("Dockerfile line {line}: {problem}")]
    Invalid { line: usize, problem: String },
    #[error("Dockerfile line {line}: {what} is not supported")]
    Unsupported { line: usize, what: String },
}

impl DockerfileError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            DockerfileError::NoFrom | DockerfileError::BeforeFrom { .. } => {
                Some("start the Dockerfile with `FROM quay.io/astronomer/astro-runtime:<version>`")
            }
            DockerfileError::Unsupported { .. } => {
                Some("write the image name without it, or deploy with a full image build")
            }
            _ => None,
        }
    }
}

/// Reads and analyses the Dockerfile at `path`.
pub fn analyze_file(path: &Path) -> Result<DockerfileAnalysis, DockerfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| DockerfileError::Read {
        path: path.to_owned(),
        source,
    })?;
    analyze(&text)
}

/// Analyses the text of a Dockerfile.
pub fn analyze(text: &str) -> Result<DockerfileAnalysis, DockerfileError> {
    let instructions = instructions(text)?;
    let mut meta_args = BTreeMap::new();
    let mut rest = instructions.iter();

    let from = loop {
        let Some(instruction) = rest.next() else {
            return Err(DockerfileError::NoFrom);
        };
        match instruction.keyword.as_str() {
            "from" => break instruction,
            "arg" => add_meta_args(instruction, &mut meta_args)?,
            _ => {
                return Err(DockerfileError::BeforeFrom {
                    line: instruction.line,
                    instruction: instruction.text.clone(),
                })
            }
        }
    };

    let parsed = parse_from(from, &meta_args)?;
    let not_plain = rest.next().map(|next| NotPlain {
        line: next.line,
        instruction: next.text.clone(),
        second_stage: next.keyword == "from",
    });
    Ok(DockerfileAnalysis {
        runtime: runtime_image(&parsed.image),
        base_image: parsed.image,
        from_line: from.line,
        platform: parsed.platform,
        stage_name: parsed.stage_name,
        not_plain,
    })
}

/// The Astro Runtime image an image reference names, if it is one with a version in its tag.
pub fn runtime_image(reference: &str) -> Option<RuntimeImage> {
    let name_and_tag = reference.split('@').next().unwrap_or(reference);
    let last_slash = name_and_tag.rfind('/').map_or(0, |slash| slash + 1);
    let (repository, tag) = name_and_tag[last_slash..].split_once(':')?;
    if repository != "astro-runtime" && repository != "runtime" {
        return None;
    }

    let (version, rest) = RuntimeVersion::parse_leading(tag)?;
    let variant = match rest {
        "" => None,
        _ => Some(rest.strip_prefix('-').filter(|v| !v.is_empty())?.to_owned()),
    };
    Some(RuntimeImage { version, variant })
}

/// The Astro Runtime version an image reference names, if any.
pub fn runtime_version(reference: &str) -> Option<RuntimeVersion> {
    runtime_image(reference).map(|image| image.version)
}

fn leading_number(text: &str) -> Option<(u32, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let number = text[..digits].parse().ok()?;
    Some((number, &text[digits..]))
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// One instruction, its continuation lines joined.
#[derive(Debug)]
struct Instruction {
    /// The line it starts on, from 1.
    line: usize,
    /// Lowercase.
    keyword: String,
    arguments: String,
    /// The whole instruction with runs of spaces collapsed, for messages.
    text: String,
    /// The escape character in force.
    escape: char,
}

/// What the parser keeps between lines.
struct Reader<'a> {
    lines: std::iter::Enumerate<std::str::Split<'a, char>>,
    escape: char,
    directives_done: bool,
    seen_directives: Vec<String>,
}

fn instructions(text: &str) -> Result<Vec<Instruction>, DockerfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader {
        lines: text.split('\n').enumerate(),
        escape: '\\',
        directives_done: false,
        seen_directives: Vec::new(),
    };

    let mut instructions = Vec::new();
    while let Some((index, raw)) = reader.lines.next() {
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim_start();
        reader.directive(line, index + 1)?;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }

        let (mut joined, mut ended) = reader.trim_continuation(line);
        while !ended {
            let Some((piece, last)) = reader.continuation_line() else {
                break;
            };
            joined.push_str(&piece);
            ended = last;
        }
        if let Some(instruction) = split_instruction(&joined, index + 1, reader.escape) {
            instructions.push(instruction);
        }
    }
    Ok(instructions)
}

impl Reader<'_> {
    /// Applies a parser directive; directives end at the first line that is not one.
    fn directive(&mut self, line: &str, number: usize) -> Result<(), DockerfileError> {
        if self.directives_done {
            return Ok(());
        }
        let Some((name, value)) = parse_directive(line) else {
            self.directives_done = true;
            return Ok(());
        };
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.directives_done = true;
            return Ok(());
        }

        let invalid = |problem: String| DockerfileError::Invalid {
            line: number,
            problem,
        };
        if self.seen_directives.contains(&name) {
            return Err(invalid(format!(
                "only one `{name}` parser directive can be used"
            )));
        }
        if name == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(invalid(format!(
                        "`{value}` is not a valid escape character"
                    )))
                }
            };
        }
        self.seen_directives.push(name);
        Ok(())
    }

    /// The next line that continues an instruction, and whether the instruction ends there.
    /// Comment and blank lines inside a continuation are skipped.
    fn continuation_line(&mut self) -> Option<(String, bool)> {
        for (_, raw) in self.lines.by_ref() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            return Some(self.trim_continuation(line));
        }
        None
    }

    /// Removes a trailing escape character (and spaces after it); `true` when there was none.
    fn trim_continuation(&self, line: &str) -> (String, bool) {
        let trimmed = line.trim_end_matches([' ', '\t']);
        match trimmed.strip_suffix(self.escape) {
            Some(rest) => (rest.to_owned(), false),
            None => (line.to_owned(), true),
        }
    }
}

/// Reads `# name=value` (BuildKit's `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`).
fn parse_directive(line: &str) -> Option<(String, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_length = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_length];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }

    let value = rest[name_length..].trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value))
}

fn split_instruction(joined: &str, line: usize, escape: char) -> Option<Instruction> {
    let trimmed = joined.trim();
    if trimmed.is_empty() {
        return None;
    }
    let (keyword, arguments) = trimmed
        .split_once(char::is_whitespace)
        .map_or((trimmed, ""), |(keyword, rest)| {
            (keyword, rest.trim_start())
        });
    Some(Instruction {
        line,
        keyword: keyword.to_ascii_lowercase(),
        arguments: arguments.to_owned(),
        text: trimmed.split_whitespace().collect::<Vec<_>>().join(" "),
        escape,
    })
}

/// The parts of a `FROM`.
struct From {
    image: String,
    platform: Option<String>,
    stage_name: Option<String>,
}

fn parse_from(
    instruction: &Instruction,
    meta_args: &BTreeMap<String, String>,
) -> Result<From, DockerfileError> {
    let line = instruction.line;
    let invalid = |problem: &str| DockerfileError::Invalid {
        line,
        problem: problem.to_owned(),
    };
    let mut words: Vec<&str> = instruction.arguments.split_whitespace().collect();

    let mut platform = None;
    while let Some(flag) = words.first().and_then(|word| word.strip_prefix("--")) {
        match flag.split_once('=') {
            Some(("platform", value)) => platform = Some(value.to_owned()),
            _ => return Err(invalid(&format!("`FROM` has no flag `--{flag}`"))),
        }
        words.remove(0);
    }

    let (image, stage_name) = match words.as_slice() {
        [image] => (*image, None),
        [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => (*image, Some(*name)),
        _ => return Err(invalid("`FROM` takes an image and optionally `AS <name>`")),
    };
    let image = expand(image, meta_args, line, instruction.escape)?;
    if image.is_empty() {
        return Err(invalid(
            "the `FROM` image is empty after substituting `ARG`s",
        ));
    }
    Ok(From {
        image,
        platform,
        stage_name: stage_name.map(str::to_owned),
    })
}

/// Records the defaults of an `ARG` before `FROM`; each may use the ones before it.
fn add_meta_args(
    instruction: &Instruction,
    meta_args: &mut BTreeMap<String, String>,
) -> Result<(), DockerfileError> {
    for word in split_words(&instruction.arguments, instruction.escape) {
        let expanded = expand(&word, meta_args, instruction.line, instruction.escape)?;
        match expanded.split_once('=') {
            Some((name, value)) => meta_args.insert(name.to_owned(), value.to_owned()),
            // Declared without a default: it stays unset.
            None => meta_args.remove(&expanded),
        };
    }
    Ok(())
}

/// Splits on spaces outside quotes, keeping quotes and escapes for [`expand`] (BuildKit's
/// `parseWords`).
fn split_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut chars = text.chars();

    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            None if c == '\'' || c == '"' => quote = Some(c),
            Some(open) if c == open => quote = None,
            _ => {}
        }
        word.push(c);
        if c == escape && quote != Some('\'') {
            word.extend(chars.next());
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Substitutes variables and removes quotes and escapes in one word, as BuildKit's shell
/// lexer does for `FROM` and `ARG`.
fn expand(
    word: &str,
    variables: &BTreeMap<String, String>,
    line: usize,
    escape: char,
) -> Result<String, DockerfileError> {
    let mut lexer = Lexer {
        chars: word.chars().collect(),
        at: 0,
        variables,
        line,
        escape,
    };
    lexer.word(None)
}

struct Lexer<'a> {
    chars: Vec<char>,
    at: usize,
    variables: &'a BTreeMap<String, String>,
    line: usize,
    escape: char,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.at += usize::from(c.is_some());
        c
    }

    /// Reads up to the end, or up to an unquoted `stop` (which is consumed).
    fn word(&mut self, stop: Option<char>) -> Result<String, DockerfileError> {
        let mut out = String::new();
        while let Some(c) = self.next() {
            match c {
                _ if Some(c) == stop => return Ok(out),
                _ if c == self.escape => out.extend(self.next()),
                '\'' => out += &self.single_quoted(),
                '"' => out += &self.double_quoted()?,
                '$' => out += &self.dollar()?,
                _ => out.push(c),
            }
        }
        match stop {
            Some(stop) => Err(self.unsupported(format!("a substitution without its `{stop}`"))),
            None => Ok(out),
        }
    }

    fn single_quoted(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.next() {
            if c == '\'' {
                break;
            }
            out.push(c);
        }
        out
    }

    fn double_quoted(&mut self) -> Result<String, DockerfileError> {
        let mut out = String::new();
        while let Some(c) = self.next() {
            match c {
                '"' => break,
                _ if c == self.escape && self.escapes_in_quotes() => out.extend(self.next()),
                '$' => out += &self.dollar()?,
                _ => out.push(c),
            }
        }
        Ok(out)
    }

    /// Reads what follows a `$`.
    fn dollar(&mut self) -> Result<String, DockerfileError> {
        if self.peek() == Some('{') {
            self.next();
            return self.braced();
        }
        let name = self.name();
        if name.is_empty() {
            return Ok("$".to_owned());
        }
        Ok(self.variables.get(&name).cloned().unwrap_or_default())
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            name.push(c);
            self.next();
        }
        name
    }

    /// Reads `${NAME}` or `${NAME<modifier>word}` after the `{`.
    fn braced(&mut self) -> Result<String, DockerfileError> {
        let name = self.name();
        if name.is_empty() {
            return Err(self.unsupported("a `${` without a variable name".to_owned()));
        }
        let value = self.variables.get(&name);
        let colon = self.peek() == Some(':');
        if colon {
            self.next();
        }

        let modifier = self.next();
        if modifier == Some('}') && !colon {
            return Ok(value.cloned().unwrap_or_default());
        }
        let set = value.is_some_and(|value| !colon || !value.is_empty());
        let word = match modifier {
            Some('-' | '+' | '?') => self.word(Some('}'))?,
            other => {
                let what = other.map_or("an unclosed `${`".to_owned(), |c| {
                    format!(
                        "the substitution `${{{name}{}{c}...}}`",
                        if colon { ":" } else { "" }
                    )
                });
                return Err(self.unsupported(what));
            }
        };
        match modifier {
            Some('-') if set => Ok(value.cloned().unwrap_or_default()),
            Some('-') => Ok(word),
            Some('+') if set => Ok(word),
            Some('+') => Ok(String::new()),
            _ if set => Ok(value.cloned().unwrap_or_default()),
            _ => Err(DockerfileError::Invalid {
                line: self.line,
                problem: format!("`{name}` is not set: {word}"),
            }),
        }
    }

    /// Inside double quotes the escape character only escapes `"`, `$` and itself.
    fn escapes_in_quotes(&self) -> bool {
        self.peek()
            .is_some_and(|next| next == '"' || next == '$' || next == self.escape)
    }

    fn unsupported(&self, what: String) -> DockerfileError {
        DockerfileError::Unsupported {
            line: self.line,
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(text: &str) -> DockerfileAnalysis {
        analyze(text).unwrap_or_else(|error| panic!("{text:?}: {error}"))
    }

    fn version(text: &str) -> RuntimeVersion {
        text.parse().unwrap()
    }

    #[test]
    fn a_bare_from_of_a_runtime_is_plain() {
        let found = analysis("FROM quay.io/astronomer/astro-runtime:12.2.0\n");
        assert!(found.is_plain());
        assert_eq!(found.base_image, "quay.io/astronomer/astro-runtime:12.2.0");
        assert_eq!(found.from_line, 1);
        let runtime = found.runtime.unwrap();
        assert_eq!(runtime.version, version("12.2.0"));
        assert_eq!(runtime.variant, None);
        assert!(runtime.has_onbuild());
    }

    #[test]
    fn directives_comments_blank_lines_and_case_keep_it_plain() {
        let text = "\u{feff}# syntax=docker/dockerfile:1\n\
                    # escape=\\\n\
                    \n\
                    # The runtime; see https://www.astronomer.io/docs/astro/runtime-release-notes\n\
                    \tfrom   --platform=linux/amd64 \\\n\
                    # a comment inside the continuation\n\
                    \n\
                    \x20   quay.io/astronomer/astro-runtime:12.2.0 aS base\r\n\
                    \n\
                    # nothing else\n";
        let found = analysis(text);
        assert!(found.is_plain(), "{:?}", found.not_plain);
        assert_eq!(found.from_line, 5);
        assert_eq!(found.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(found.stage_name.as_deref(), Some("base"));
        assert_eq!(found.runtime.unwrap().version, version("12.2.0"));
    }

    #[test]
    fn arg_defaults_are_substituted_into_from() {
        let cases = [
            (
                "ARG V=12.2.0\nFROM quay.io/astronomer/astro-runtime:${V}",
                "12.2.0",
            ),
            (
                "ARG V=12.2.0\nFROM quay.io/astronomer/astro-runtime:$V",
                "12.2.0",
            ),
            (
                "ARG REG=quay.io ORG=astronomer\nARG IMAGE=\"$REG/$ORG/astro-runtime\"\n\
                 FROM ${IMAGE}:12.3.1-python-3.11",
                "12.3.1",
            ),
            (
                "ARG V\nFROM quay.io/astronomer/astro-runtime:${V:-11.0.0}",
                "11.0.0",
            ),
            (
                "ARG V=\nFROM quay.io/astronomer/astro-runtime:${V:-11.0.0}",
                "11.0.0",
            ),
            (
                "ARG V=\nFROM quay.io/astronomer/astro-runtime:${V-11.0.0}x",
                "",
            ),
            ("ARG V=9.1.0\nFROM runtime:${V:+${V}}", "9.1.0"),
            ("ARG V=9.1.0 W=$V\nFROM runtime:$W", "9.1.0"),
            ("ARG V='9.1.0'\nFROM runtime:${V:?unset}", "9.1.0"),
        ];
        for (text, expected) in cases {
            let found = analysis(text);
            let got = found
                .runtime
                .map(|r| r.version.to_string())
                .unwrap_or_default();
            assert_eq!(got, expected, "{text:?} gave {}", found.base_image);
        }
    }

    #[test]
    fn the_first_instruction_after_from_is_named() {
        let text = "FROM quay.io/astronomer/astro-runtime:12.2.0\n\n# deps\n\
                    RUN pip install \\\n    x\nENV A=1\n";
        let found = analysis(text);
        let reason = found.not_plain.unwrap();
        assert_eq!(reason.line, 4);
        assert!(!reason.second_stage);
        assert_eq!(
            reason.to_string(),
            "Dockerfile line 4 runs `RUN pip install x` after FROM"
        );

        let env = analysis("FROM runtime:9.1.0\nenv A=1").not_plain.unwrap();
        assert_eq!(
            env.to_string(),
            "Dockerfile line 2 runs `env A=1` after FROM"
        );
    }

    #[test]
    fn a_second_stage_is_not_plain() {
        let text = "FROM python:3.12 AS tools\nFROM quay.io/astronomer/astro-runtime:12.2.0\n";
        let found = analysis(text);
        assert_eq!(found.base_image, "python:3.12");
        assert!(found.runtime.is_none());
        assert_eq!(
            found.not_plain.unwrap().to_string(),
            "Dockerfile line 2 starts a second stage \
             (`FROM quay.io/astronomer/astro-runtime:12.2.0`)"
        );
    }

    #[test]
    fn long_instructions_are_shortened_in_messages() {
        let text = format!("FROM runtime:9.1.0\nRUN {}", "a".repeat(200));
        let message = analysis(&text).not_plain.unwrap().to_string();
        assert!(message.ends_with("aaa...` after FROM"), "{message}");
        assert!(message.len() < 120, "{message}");
    }

    #[test]
    fn the_escape_directive_changes_the_continuation_character() {
        let text = "# escape=`\nFROM `\n  runtime:9.1.0\nRUN dir c:\\\n";
        let found = analysis(text);
        assert_eq!(found.base_image, "runtime:9.1.0");
        assert_eq!(found.not_plain.unwrap().instruction, "RUN dir c:\\");

        // A directive after a comment is only a comment.
        let late = analysis("# hello\n# escape=`\nFROM runtime:9.1.0 \\\n  AS x");
        assert_eq!(late.stage_name.as_deref(), Some("x"));
    }

    #[test]
    fn broken_dockerfiles_are_errors_with_their_line() {
        let cases = [
            ("", "the Dockerfile has no `FROM` instruction"),
            (
                "# only\nARG X=1\n",
                "the Dockerfile has no `FROM` instruction",
            ),
            (
                "ENV A=1\nFROM runtime:9.1.0",
                "Dockerfile line 1: `ENV A=1` comes before the first `FROM`",
            ),
            (
                "\nFROM --pull=always runtime:9.1.0",
                "Dockerfile line 2: `FROM` has no flag `--pull=always`",
            ),
            (
                "FROM a b",
                "Dockerfile line 1: `FROM` takes an image and optionally `AS <name>`",
            ),
            (
                "ARG X\nFROM $X",
                "Dockerfile line 2: the `FROM` image is empty after substituting `ARG`s",
            ),
            (
                "ARG X=a.b\nFROM ${X%.*}",
                "Dockerfile line 2: the substitution `${X%...}` is not supported",
            ),
            (
                "FROM ${X:?unset}",
                "Dockerfile line 1: `X` is not set: unset",
            ),
            (
                "# escape=x\nFROM a",
                "Dockerfile line 1: `x` is not a valid escape character",
            ),
            (
                "# syntax=a\n# syntax=b\nFROM a",
                "Dockerfile line 2: only one `syntax` parser directive can be used",
            ),
        ];
        for (text, message) in cases {
            let error = analyze(text).unwrap_err();
            assert_eq!(error.to_string(), message, "{text:?}");
        }
    }

    #[test]
    fn runtime_versions_come_from_the_tag() {
        let cases = [
            (
                "quay.io/astronomer/astro-runtime:12.2.0",
                Some(("12.2.0", None)),
            ),
            (
                "quay.io/astronomer/astro-runtime:12.2.0-base",
                Some(("12.2.0", Some("base"))),
            ),
            (
                "quay.io/astronomer/astro-runtime:12.2.0-python-3.11",
                Some(("12.2.0", Some("python-3.11"))),
            ),
            (
                "astrocrpublic.azurecr.io/runtime:9.1.0",
                Some(("9.1.0", None)),
            ),
            ("runtime:9.1.0", Some(("9.1.0", None))),
            (
                "quay.io/astronomer/astro-runtime:12.2.0@sha256:0123456789abcdef",
                Some(("12.2.0", None)),
            ),
            (
                "127.0.0.1:5000/astronomer/astro-runtime:12.2.0",
                Some(("12.2.0", None)),
            ),
            ("127.0.0.1:5000/astronomer/astro-runtime", None),
            (
                "quay.io/astronomer/astro-runtime@sha256:0123456789abcdef",
                None,
            ),
            ("quay.io/astronomer/astro-runtime:latest", None),
            ("quay.io/astronomer/astro-runtime:12.2", None),
            ("quay.io/astronomer/astro-runtime:12.2.0rc1", None),
            ("quay.io/astronomer/astro-runtime:12.2.0-", None),
            (
                "astrocrpublic.azurecr.io/runtime:3.0-10",
                Some(("3.0-10", None)),
            ),
            (
                "quay.io/astronomer/astro-runtime:3.0-1",
                Some(("3.0-1", None)),
            ),
            (
                "astrocrpublic.azurecr.io/runtime:3.1-2-python-3.12-base",
                Some(("3.1-2", Some("python-3.12-base"))),
            ),
            ("astrocrpublic.azurecr.io/runtime:3.1", None),
            ("astrocrpublic.azurecr.io/runtime:3.1-", None),
            ("astrocrpublic.azurecr.io/runtime:3.1-x", None),
            ("python:3.12.1", None),
            ("apache/airflow:2.10.0", None),
        ];
        for (reference, expected) in cases {
            let got = runtime_image(reference);
            let got = got
                .as_ref()
                .map(|r| (r.version.to_string(), r.variant.as_deref()));
            let expected = expected.map(|(v, variant)| (v.to_owned(), variant));
            assert_eq!(got, expected, "{reference}");
        }
        assert_eq!(runtime_version("runtime:9.1.0"), Some(version("9.1.0")));
    }

    #[test]
    fn base_images_have_no_onbuild_triggers() {
        for (tag, onbuild) in [
            ("12.2.0", true),
            ("12.2.0-python-3.11", true),
            ("12.2.0-base", false),
            ("12.2.0-python-3.11-base", false),
        ] {
            let image = runtime_image(&format!("astro-runtime:{tag}")).unwrap();
            assert_eq!(image.has_onbuild(), onbuild, "{tag}");
        }
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version("12.10.0") > version("12.2.0"));
        assert!(version("12.2.1") > version("12.2.0"));
        assert!(version("9.99.99") < version("10.0.0"));
        assert_eq!(version("012.2.0"), version("12.2.0"));
        assert!(version("3.0-10") > version("3.0-9"));
        assert!(version("3.1-1") > version("3.0-10"));
        assert!(
            version("3.0-1") > version("13.9.9"),
            "Runtime 3 came after 13"
        );
        assert_eq!(version("3.0-1").to_string(), "3.0-1");
        for bad in [
            "12.2",
            "12.2.0-base",
            "v12.2.0",
            "",
            "1.2.3.4",
            "3.0-1-base",
            "3.0-",
        ] {
            let error = bad.parse::<RuntimeVersion>().unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("`{bad}` is not a runtime version (X.Y.Z or X.Y-N)")
            );
        }
        assert_eq!(
            serde_json::to_string(&version("12.2.0")).unwrap(),
            "\"12.2.0\""
        );
    }

    #[test]
    fn a_dockerfile_is_read_from_disk_or_named_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Dockerfile");
        let error = analyze_file(&path).unwrap_err();
        assert_eq!(error.to_string(), format!("reading `{}`", path.display()));

        std::fs::write(&path, "FROM quay.io/astronomer/astro-runtime:12.2.0\n").unwrap();
        assert!(analyze_file(&path).unwrap().is_plain());
    }
}
