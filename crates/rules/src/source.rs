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
    /// 1-based column where `code` starts on 1-based `line`, if it is there.
    pub fn column_of(&self, line: usize, code: &str) -> Option<usize> {
        let text = self.lines.get(line.checked_sub(1)?)?;
        let code = code.trim();
        (!code.is_empty())
            .then(|| text.find(code))
            .flatten()
            .map(|byte| text[..byte].chars().count() + 1)
    }

    pub fn rule_line(&self, index: usize) -> Option<usize> {
        self.rule_lines().get(index).map(|(line, _)| *line)
    }

    /// The name of the rule whose text contains `line` (the last `name:` at or before it).
    /// Fixed: this took `line + 1`, so an error on a rule's last line named the next rule.
    pub fn rule_at(&self, line: usize) -> Option<String> {
        self.rule_lines()
            .into_iter()
            .rev()
            .find(|(l, _)| *l <= line)
            .map(|(_, name)| name)
    }

    /// The first line at or after the rule's line (and before the next rule) whose key is
    /// `key`; the rule's own line when not found.
    pub fn key_line(&self, rule_index: usize, key: &str) -> Option<usize> {
        self.find_key_line(rule_index, key)
            .or_else(|| self.rule_line(rule_index))
    }

    /// Like [`SourceMap::key_line`], but `None` when the rule has no line with `key`.
    /// Fixed: a key inside a flow mapping (`set: { role: Boss }`) was not found, so its
    /// errors pointed at the rule's `name:` line.
    pub fn find_key_line(&self, rule_index: usize, key: &str) -> Option<usize> {
        let rules = self.rule_lines();
        let (start, _) = rules.get(rule_index)?;
        let end = rules
            .get(rule_index + 1)
            .map(|(l, _)| *l)
            .unwrap_or(self.lines.len() + 1);
        let flow = [
            format!("{{ {key}:"),
            format!("{{{key}:"),
            format!(", {key}:"),
        ];
        (*start..end).find(|l| {
            let line = self.lines[l - 1];
            self.value_of(*l, key).is_some() || flow.iter().any(|f| line.contains(f.as_str()))
        })
    }

    /// The text after `key:` when line `line` (1-based) starts with that key.
    fn value_of(&self, line: usize, key: &str) -> Option<&str> {
        let t = self.lines.get(line.checked_sub(1)?)?.trim_start();
        let t = t.trim_start_matches('-').trim_start();
        t.strip_prefix(key)?.strip_prefix(':').map(str::trim)
    }

    /// The key a line starts with (`user_plan` in `  user_plan: { … }`).
    pub fn key_at(&self, line: usize) -> Option<&str> {
        let t = self.lines.get(line.checked_sub(1)?)?.trim_start();
        let t = t.trim_start_matches('-').trim_start();
        let (key, _) = t.split_once(':')?;
        (!key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(key)
    }

    /// How many lines below `key:` (as found by [`SourceMap::key_line`]) its Rhai code
    /// starts: 0 for `when: '…'` or `role: { expr: '…' }`, 1 for a block scalar
    /// (`when: |`), and more when `expr:` is a key of its own under the setting.
    pub fn code_offset(&self, rule_index: usize, key: &str) -> usize {
        let Some(start) = self.key_line(rule_index, key) else {
            return 0;
        };
        // Inside a flow mapping the code is on the key's line.
        let Some(mut value) = self.value_of(start, key) else {
            return 0;
        };
        let indent = |line: usize| {
            self.lines
                .get(line - 1)
                .map(|l| l.len() - l.trim_start().len())
                .unwrap_or(0)
        };
        let mut line = start;
        if value.is_empty() {
            // `role:` then `expr: …` on a more indented line below.
            if let Some(below) = (start + 1..=self.lines.len())
                .take_while(|l| indent(*l) > indent(start) || self.lines[l - 1].trim().is_empty())
                .find(|l| self.value_of(*l, "expr").is_some())
            {
                line = below;
                value = self.value_of(below, "expr").unwrap_or_default();
            }
        }
        if value.starts_with('|') || value.starts_with('>') {
            line += 1;
        }
        line - start
    }
}

fn unquote(s: &str) -> String {
    let s = s.split(" #").next().unwrap_or(s).trim();
    s.trim_matches(|c| c == '"' || c == '\'').to_owned()
}
