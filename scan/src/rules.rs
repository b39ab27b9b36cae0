//! Rule files in the gitleaks format (`[[rules]]` with `id`, `description`, `regex`, `secretGroup`, `entropy`, `keywords`, `path`, per-rule `[[rules.allowlists]]`, a global `[allowlist]` or `[[allowlists]]`, `[extend] useDefault` and `disabledRules`; keys it does not implement are errors), parsed and compiled; and the built-in set, written in the same format.

use regex::Regex;
use serde::Deserialize;

/// The built-in rules (`rules/builtin.toml`).
const BUILTIN: &str = include_str!("../rules/builtin.toml");

/// A repository's own scan configuration, at its root: the same format as a rule file, always
/// on top of the built-in rules (its rules add to them, its allowlists suppress).
pub const REPOSITORY_CONFIG: &str = ".palisade-scan.toml";

/// A rule file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The file is not TOML of the expected shape.
    #[error("rule file {file}: {source}")]
    Toml {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// A rule's or an allowlist's regular expression does not compile.
    #[error("rule file {file}, rule {rule}: regex {pattern:?}: {source}")]
    Regex {
        /// The file.
        file: String,
        /// The rule (or `allowlist`).
        rule: String,
        /// The pattern.
        pattern: String,
        /// Why.
        #[source]
        source: Box<regex::Error>,
    },
    /// A rule has no id, or two rules share one.
    #[error("rule file {file}: {problem}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        problem: String,
    },
}

// Unknown keys are errors: a gitleaks key this reader does not implement (a composite rule, a
// commit allowlist) would otherwise be dropped without a word, and the file would mean less than
// its author wrote.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RuleFile {
    /// The file's title (gitleaks; unused).
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for gitleaks compatibility, not used")]
    title: Option<String>,
    #[serde(default)]
    extend: Option<Extend>,
    #[serde(default)]
    rules: Vec<RuleDef>,
    #[serde(default)]
    allowlist: Option<AllowlistDef>,
    #[serde(default)]
    allowlists: Vec<AllowlistDef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Extend {
    #[serde(default)]
    use_default: bool,
    /// Built-in rules left out (with `useDefault = true`).
    #[serde(default)]
    disabled_rules: Vec<String>,
    /// Another rule file to extend: refused (not supported).
    #[serde(default)]
    path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RuleDef {
    id: String,
    #[serde(default)]
    description: String,
    /// Labels (gitleaks; unused).
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for gitleaks compatibility, not used")]
    tags: Vec<String>,
    regex: String,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    allowlists: Vec<AllowlistDef>,
    /// The per-rule `[rules.allowlist]` of gitleaks before 8.21, read as one more allowlist.
    #[serde(default)]
    allowlist: Option<AllowlistDef>,
    /// Palisade's own examples (ignored by gitleaks): texts the rule must find and must not.
    #[serde(default)]
    examples: Option<Examples>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AllowlistDef {
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for gitleaks compatibility, not used")]
    description: Option<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    /// `OR` (the default) only: `AND` would need every criterion to match, and reading it as
    /// `OR` would suppress more than its author meant.
    #[serde(default)]
    condition: Option<String>,
    /// What `regexes` test: `secret` (the default), `match` (the rule's whole match) or `line`.
    #[serde(default)]
    regex_target: Option<String>,
    /// Commit allowlists: refused (a baseline does this job here).
    #[serde(default)]
    commits: Vec<String>,
}

impl AllowlistDef {
    /// What this reader cannot honour as written, if anything.
    fn unsupported(&self) -> Option<String> {
        if let Some(condition) = self
            .condition
            .as_deref()
            .filter(|c| !c.eq_ignore_ascii_case("or"))
        {
            return Some(format!(
                "allowlist condition {condition:?} is not supported (only \"OR\")"
            ));
        }
        let targets = ["secret", "match", "line"];
        if let Some(target) = (self.regex_target.as_deref()).filter(|t| !targets.contains(t)) {
            return Some(format!(
                "allowlist regexTarget {target:?} is not one of \"secret\", \"match\", \"line\""
            ));
        }
        (!self.commits.is_empty()).then(|| {
            "allowlist commits are not supported: record known findings in a baseline \
             (--write-baseline)"
                .to_owned()
        })
    }
}

/// A rule's own test texts.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Examples {
    /// Texts in which the rule finds a secret.
    #[serde(default)]
    pub found: Vec<String>,
    /// Texts in which it finds nothing.
    #[serde(default)]
    pub not_found: Vec<String>,
}

/// A compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) description: String,
    /// The pattern, compiled on first use ([`Rule::regex`]).
    pattern: String,
    compiled: std::sync::OnceLock<Regex>,
    pub(crate) secret_group: Option<usize>,
    pub(crate) entropy: Option<f64>,
    pub(crate) keywords: Vec<String>,
    pub(crate) path: Option<Regex>,
    pub(crate) allowlist: Allowlist,
    pub(crate) examples: Examples,
}

impl Rule {
    /// The rule's regex, compiled on first use.
    pub(crate) fn regex(&self) -> &Regex {
        self.compiled.get_or_init(|| {
            Regex::new(&self.pattern).expect("built-in patterns compile (every one is tested)")
        })
    }
}

/// Matches that are not findings.
#[derive(Debug, Default)]
pub(crate) struct Allowlist {
    /// Tested against the secret.
    pub(crate) regexes: Vec<Regex>,
    /// Tested against the rule's whole match (`regexTarget = "match"`).
    pub(crate) match_regexes: Vec<Regex>,
    /// Tested against the line the secret is on (`regexTarget = "line"`).
    pub(crate) line_regexes: Vec<Regex>,
    pub(crate) paths: Vec<Regex>,
    pub(crate) stopwords: Vec<String>,
}

/// Where a candidate secret was found, for an allowlist to judge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub(crate) path: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) matched: &'a str,
    pub(crate) line: &'a str,
}

impl Allowlist {
    pub(crate) fn allows(&self, c: Candidate<'_>) -> bool {
        self.paths.iter().any(|p| p.is_match(c.path))
            || self.regexes.iter().any(|r| r.is_match(c.secret))
            || self.match_regexes.iter().any(|r| r.is_match(c.matched))
            || self.line_regexes.iter().any(|r| r.is_match(c.line))
            || self
                .stopwords
                .iter()
                .any(|w| (c.secret.to_ascii_lowercase()).contains(&w.to_ascii_lowercase()))
    }

    fn extend(&mut self, other: Self) {
        self.regexes.extend(other.regexes);
        self.match_regexes.extend(other.match_regexes);
        self.line_regexes.extend(other.line_regexes);
        self.paths.extend(other.paths);
        self.stopwords.extend(other.stopwords);
    }
}

/// A set of compiled rules and the global allowlist.
#[derive(Debug)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) allowlist: Allowlist,
}

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> Self {
        let parsed: RuleFile = toml::from_str(BUILTIN).expect("the built-in rules parse (tested)");
        Self::compile("builtin.toml", parsed, Self::empty(), true)
            .expect("the built-in rules compile (tested)")
    }

    fn empty() -> Self {
        Self {
            rules: Vec::new(),
            allowlist: Allowlist::default(),
        }
    }

    /// A repository's configuration ([`REPOSITORY_CONFIG`]): built-in rules plus the file's. A
    /// file in the repository cannot switch the built-in rules off (`useDefault = false` is
    /// refused): a commit could otherwise silence the scanner that checks it.
    pub fn repository(file: &str, text: &str) -> Result<Self, RuleError> {
        let parsed: RuleFile = toml::from_str(text).map_err(|source| RuleError::Toml {
            file: file.to_owned(),
            source,
        })?;
        if (parsed.extend.as_ref()).is_some_and(|e| !e.use_default || !e.disabled_rules.is_empty())
        {
            return Err(RuleError::Invalid {
                file: file.to_owned(),
                problem: "`[extend] useDefault = false` or `disabledRules` would switch built-in \
                          rules off; a repository's configuration only adds to them (pass \
                          --rules for a rule set of your own)"
                    .to_owned(),
            });
        }
        Self::compile(file, parsed, Self::builtin(), false)
    }

    /// Rules from a gitleaks-style file; with `[extend] useDefault = true` the built-in rules
    /// come first and a rule of the same id in the file replaces the built-in one.
    pub fn parse(file: &str, text: &str) -> Result<Self, RuleError> {
        let parsed: RuleFile = toml::from_str(text).map_err(|source| RuleError::Toml {
            file: file.to_owned(),
            source,
        })?;
        let mut set = if parsed.extend.as_ref().is_some_and(|e| e.use_default) {
            Self::builtin()
        } else {
            Self::empty()
        };
        for id in parsed.extend.iter().flat_map(|e| &e.disabled_rules) {
            let before = set.rules.len();
            set.rules.retain(|rule| rule.id != *id);
            if set.rules.len() == before {
                return Err(RuleError::Invalid {
                    file: file.to_owned(),
                    problem: format!("disabledRules names {id:?}, which is not a built-in rule"),
                });
            }
        }
        Self::compile(file, parsed, set, false)
    }

    /// Adds the parsed file's rules and allowlists to `set`; `lazy` leaves the rules' patterns
    /// to be compiled on first use (the built-in set only).
    fn compile(file: &str, parsed: RuleFile, mut set: Self, lazy: bool) -> Result<Self, RuleError> {
        let invalid = |problem: String| RuleError::Invalid {
            file: file.to_owned(),
            problem,
        };
        if let Some(path) = parsed.extend.as_ref().and_then(|e| e.path.as_deref()) {
            return Err(invalid(format!(
                "`[extend] path = {path:?}` is not supported: copy that file's rules into this one"
            )));
        }
        let lists = (parsed.allowlist.iter().chain(&parsed.allowlists)).chain(
            parsed
                .rules
                .iter()
                .flat_map(|r| r.allowlists.iter().chain(&r.allowlist)),
        );
        if let Some(problem) = lists.filter_map(AllowlistDef::unsupported).next() {
            return Err(invalid(problem));
        }
        let compile = |rule: &str, pattern: &str| {
            Regex::new(pattern).map_err(|source| RuleError::Regex {
                file: file.to_owned(),
                rule: rule.to_owned(),
                pattern: pattern.to_owned(),
                source: Box::new(source),
            })
        };
        let allowlist = |rule: &str, defs: &[&AllowlistDef]| -> Result<Allowlist, RuleError> {
            let mut list = Allowlist::default();
            for def in defs {
                let target = match def.regex_target.as_deref() {
                    Some("match") => &mut list.match_regexes,
                    Some("line") => &mut list.line_regexes,
                    _ => &mut list.regexes,
                };
                for r in &def.regexes {
                    target.push(compile(rule, r)?);
                }
                for p in &def.paths {
                    list.paths.push(compile(rule, p)?);
                }
                list.stopwords.extend(def.stopwords.iter().cloned());
            }
            Ok(list)
        };
        let globals: Vec<&AllowlistDef> = parsed
            .allowlist
            .iter()
            .chain(parsed.allowlists.iter())
            .collect();
        let global = allowlist("allowlist", &globals)?;
        set.allowlist.extend(global);
        let mut seen = std::collections::BTreeSet::new();
        for def in parsed.rules {
            if def.id.is_empty() || !seen.insert(def.id.clone()) {
                return Err(RuleError::Invalid {
                    file: file.to_owned(),
                    problem: format!("rule id {:?} is empty or given twice", def.id),
                });
            }
            let lists: Vec<&AllowlistDef> = def.allowlists.iter().chain(&def.allowlist).collect();
            // A team's rules are compiled now, so a bad pattern is an error naming the file and
            // the rule; the built-in ones (tested) only when a text first selects them, so a
            // small scan (a pre-commit hook) does not compile forty regexes it never runs.
            let compiled = std::sync::OnceLock::new();
            if !lazy {
                let _ = compiled.set(compile(&def.id, &def.regex)?);
            }
            let rule = Rule {
                pattern: def.regex,
                compiled,
                secret_group: def.secret_group,
                entropy: def.entropy,
                keywords: def
                    .keywords
                    .iter()
                    .map(|k| k.to_ascii_lowercase())
                    .collect(),
                path: def
                    .path
                    .as_deref()
                    .map(|p| compile(&def.id, p))
                    .transpose()?,
                allowlist: allowlist(&def.id, &lists)?,
                examples: def.examples.unwrap_or_default(),
                description: def.description,
                id: def.id,
            };
            match set.rules.iter_mut().find(|r| r.id == rule.id) {
                Some(existing) => *existing = rule,
                None => set.rules.push(rule),
            }
        }
        Ok(set)
    }

    /// The rules' ids, in order.
    pub fn ids(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.id.as_str()).collect()
    }

    /// A rule's description (empty when the file gives none).
    pub fn description(&self, id: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.description.as_str())
    }

    /// A rule's own examples (from the rule file), for data-driven tests.
    pub fn examples(&self, id: &str) -> Option<&Examples> {
        self.rules.iter().find(|r| r.id == id).map(|r| &r.examples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in rules compile on first use: every pattern must compile.
    #[test]
    fn every_builtin_pattern_compiles() {
        for rule in &RuleSet::builtin().rules {
            assert!(Regex::new(&rule.pattern).is_ok(), "{}", rule.id);
        }
    }

    /// A team's rule file is compiled when it is read: a bad pattern is an error naming the rule.
    #[test]
    fn a_bad_pattern_in_a_rule_file_is_an_error_at_once() {
        let error = RuleSet::parse(
            "team.toml",
            "[[rules]]\nid = \"x\"\nregex = '''(unclosed'''\n",
        )
        .unwrap_err();
        assert!(error.to_string().contains("rule x"), "{error}");
    }
}
