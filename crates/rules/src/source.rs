//! Where things are in the rule file's text, so every error can give a line: serde's
//! errors carry one; for errors found after parsing (Rhai, catalogue) the rule's
//! `name:` line and its keys are looked up in the text.

pub(crate) struct SourceMap<'a> {
    lines: Vec<&'a str>,
}

impl<'a> SourceMap<'a> {
    pub fn new(text: &'a str) -> Self {
        SourceMap {
            lines: text.lines().collect(),
        }
    }

    /// 1-based line of each rule's `name:` key, in order of appearance.
    fn rule_lines(&self) -> Vec<(usize, String)> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, line)| {
                let t = line.trim_start().trim_start_matches('-').trim_start();
                let rest = t.strip_prefix("name:")?;
                Some((i + 1, unquote(rest.trim())))
            })
            .collect()
    }

    /// The line of rule number `index` (0-based) — its `name:` line.
    pub fn rule_line(&self, index: usize) -> Option<usize> {
        self.rule_lines().get(index).map(|(line, _)| *line)
    }

    /// The name of the rule whose text contains `line` (the last `name:` at or before it).
    pub fn rule_at(&self, line: usize) -> Option<String> {
        self.rule_lines()
            .into_iter()
            .rev()
            .find(|(l, _)| *l <= line + 1)
            .map(|(_, name)| name)
    }

    /// The first line at or after the rule's line (and before the next rule) whose key is
    /// `key`; the rule's own line when not found.
    pub fn key_line(&self, rule_index: usize, key: &str) -> Option<usize> {
        let rules = self.rule_lines();
        let (start, _) = rules.get(rule_index)?;
        let end = rules
            .get(rule_index + 1)
            .map(|(l, _)| *l)
            .unwrap_or(self.lines.len() + 1);
        let prefix = format!("{key}:");
        (*start..end)
            .find(|l| {
                let t = self.lines[l - 1]
                    .trim_start()
                    .trim_start_matches('-')
                    .trim_start();
                t.starts_with(&prefix)
            })
            .or(Some(*start))
    }
}

fn unquote(s: &str) -> String {
    let s = s.split(" #").next().unwrap_or(s).trim();
    s.trim_matches(|c| c == '"' || c == '\'').to_owned()
}
