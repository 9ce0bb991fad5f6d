//! Draft rules, publishing, and the rule set's versions: an admin changes a draft (saved
//! only when it compiles), previews it while sync keeps using the published set, and
//! publishes it with a comment; a publish based on an older published set is refused.
//! Any version can be read, compared with another (or the draft), and restored as the
//! draft. The admin API, the CLI and the web UI all come here.

use crate::audit::json;
use crate::rules::RuleSetView;
use crate::{App, AppError, Result};
use scimgate_core::{AuditAction, RuleSource, Tenant};
use scimgate_rules::{RuleEdit, RuleSetDiff};
use scimgate_store::{Expect, Publication, RuleVersion, Versioned};
use serde::Serialize;

/// The draft as front ends show it, with what it changes against the published set.
#[derive(Debug, Clone, Serialize)]
pub struct DraftView {
    /// The published version the draft was begun from (0: none).
    pub base_version: i64,
    pub updated_at: String,
    pub updated_by: String,
    #[serde(flatten)]
    pub rules: RuleSetView,
    /// The draft against the published set.
    pub changes: RuleSetDiff,
}

/// A rule set to compare: a published version, the published set, or the draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSetRef {
    Version(i64),
    Published,
    Draft,
}

/// What a saved draft is based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// A draft in progress keeps its base; a new one is based on the published version
    /// the writer read (refused if that is no longer published), or, when the writer does
    /// not say, on what is published now.
    Read(Option<i64>),
    /// What is published now, whatever the draft had (a restored version).
    PublishedNow,
}

impl RuleSetRef {
    /// `draft`, `published`, or a version number.
    pub fn parse(text: &str) -> Option<RuleSetRef> {
        match text {
            "draft" => Some(RuleSetRef::Draft),
            "published" => Some(RuleSetRef::Published),
            n => n.parse().ok().map(RuleSetRef::Version),
        }
    }
}

impl App {
    pub(crate) async fn published_source(&self, tenant: &Tenant) -> Result<Option<RuleSource>> {
        Ok(self.store.rule_set(tenant).await?.value)
    }

    async fn draft_view(
        &self,
        tenant: &Tenant,
        draft: scimgate_store::RuleDraft,
    ) -> Result<DraftView> {
        let published = self.published_source(tenant).await?.unwrap_or_default();
        Ok(DraftView {
            base_version: draft.base_version,
            updated_at: draft.updated_at,
            updated_by: draft.updated_by,
            changes: scimgate_rules::diff(&published, &draft.source),
            rules: RuleSetView::of(draft.source),
        })
    }

    /// The draft (`None`: there is none) with its version.
    pub async fn rule_draft(&self, tenant: &Tenant) -> Result<Versioned<Option<DraftView>>> {
        let saved = self.store.rule_draft(tenant).await?;
        let value = match saved.value {
            Some(draft) => Some(self.draft_view(tenant, draft).await?),
            None => None,
        };
        Ok(Versioned {
            version: saved.version,
            value,
        })
    }

    /// Saves the draft (beginning one when there is none) if it compiles against the
    /// catalogue; changes nothing otherwise (every problem in [`AppError::Rules`]).
    ///
    /// `based_on` is the published version the rules were read at, when known: beginning
    /// a draft from an older one is refused as stale.
    pub async fn save_rule_draft(
        &self,
        tenant: &Tenant,
        expect: Expect,
        source: RuleSource,
        based_on: Option<i64>,
    ) -> Result<Versioned<DraftView>> {
        let done = (AuditAction::RulesDraft, "draft saved");
        self.save_draft(tenant, expect, source, Base::Read(based_on), done)
            .await
    }

    /// Saves the draft on `base`, recording what was `done` in the audit log (the action,
    /// and what it did in words).
    async fn save_draft(
        &self,
        tenant: &Tenant,
        expect: Expect,
        source: RuleSource,
        base: Base,
        done: (AuditAction, &str),
    ) -> Result<Versioned<DraftView>> {
        let (action, what) = done;
        // Before: the draft, or (the first edit begins one) what is published.
        let before = match self.store.rule_draft(tenant).await?.value {
            Some(draft) => Some(draft.source.yaml),
            None => self.published_source(tenant).await?.map(|s| s.yaml),
        };
        let checked = source.clone();
        let draft = scimgate_store::DraftWrite {
            source,
            by: self.actor.who.clone(),
            now: self.now(),
            rebase: base == Base::PublishedNow,
            based_on: match base {
                Base::Read(read) => read,
                Base::PublishedNow => None,
            },
        };
        let saved = self
            .store
            .save_rule_draft(tenant, expect, draft, move |catalog| {
                scimgate_rules::compile(&checked, catalog)
                    .map(|_| ())
                    .map_err(|problems| AppError::Rules {
                        context: "the draft was not saved".into(),
                        problems,
                    })
            })
            .await?;
        let view = self.draft_view(tenant, saved.value).await?;
        let subject = format!(
            "{what} ({} change(s) from version {})",
            view.changes.len(),
            view.base_version
        );
        let after = json(&view.rules.source.yaml);
        let before = before.as_ref().and_then(json);
        (self.audit(tenant, action, subject, before, after)).await;
        Ok(Versioned {
            version: saved.version,
            value: view,
        })
    }

    /// Switches a rule on or off, or reorders, in the draft (begun from the published
    /// set when there is none), and saves it.
    /// `based_on` as for [`App::save_rule_draft`].
    pub async fn edit_rule_draft(
        &self,
        tenant: &Tenant,
        expect: Expect,
        edit: &RuleEdit,
        based_on: Option<i64>,
    ) -> Result<Versioned<DraftView>> {
        let current = self.store.rule_draft(tenant).await?;
        if let Expect::Version(expected) = expect {
            // 0 expects no draft (the counter goes on after a publish or a discard).
            let fresh = expected == current.version || (expected == 0 && current.value.is_none());
            if !fresh {
                // Refused before the edit is tried on a draft the admin has not seen.
                return Err(AppError::Stale(scimgate_core::StaleEdit {
                    what: "the draft rule set",
                    expected,
                    current: current.version,
                    changed_at: current.value.map(|d| d.updated_at).unwrap_or_default(),
                }));
            }
        }
        let source = match current.value {
            Some(draft) => draft.source,
            None => self.editable_source(tenant).await?,
        };
        let yaml =
            scimgate_rules::edit_yaml(&source.yaml, edit).map_err(crate::rules::edit_error)?;
        let edited = RuleSource {
            yaml,
            scripts: source.scripts,
        };
        let expect = Expect::Version(current.version);
        let what = crate::rules::describe_edit(edit);
        let done = (AuditAction::RulesDraft, what.as_str());
        self.save_draft(tenant, expect, edited, Base::Read(based_on), done)
            .await
    }

    pub async fn discard_rule_draft(&self, tenant: &Tenant, expect: Expect) -> Result<()> {
        let before = self.store.rule_draft(tenant).await?.value;
        self.store
            .discard_rule_draft(tenant, expect, self.now())
            .await
            .map_err(|e| match e {
                scimgate_store::StoreError::NotFound => {
                    AppError::NotFound("there is no draft to discard".into())
                }
                e => e.into(),
            })?;
        let before = before.map(|d| d.source.yaml);
        let before = before.as_ref().and_then(json);
        (self.audit(
            tenant,
            AuditAction::RulesDiscard,
            "draft discarded",
            before,
            None,
        ))
        .await;
        Ok(())
    }

    /// Publishes the draft with `comment`; returns the new version.
    pub async fn publish_rule_draft(
        &self,
        tenant: &Tenant,
        expect: Expect,
        comment: &str,
    ) -> Result<i64> {
        let comment = comment.trim();
        if comment.is_empty() {
            return Err(AppError::Invalid(
                "say why in a comment: it is kept with the version".into(),
            ));
        }
        let publication = Publication {
            by: self.actor.who.clone(),
            comment: comment.to_owned(),
        };
        let base = self
            .store
            .rule_draft(tenant)
            .await?
            .value
            .map(|d| d.base_version);
        let published = self
            .store
            .publish_rule_draft(
                tenant,
                expect,
                publication,
                self.now(),
                |source, catalog| {
                    scimgate_rules::compile(source, catalog)
                        .map(|_| ())
                        .map_err(|problems| AppError::Rules {
                            context: "the draft was not published".into(),
                            problems,
                        })
                },
            )
            .await
            .map_err(|e| match e {
                AppError::NotFound(_) => AppError::NotFound("there is no draft to publish".into()),
                e => e,
            })?;
        self.audit_publish(tenant, base, published, comment).await;
        Ok(published)
    }

    /// Records version `published` (replacing `base`) in the audit log.
    pub(crate) async fn audit_publish(
        &self,
        tenant: &Tenant,
        base: Option<i64>,
        published: i64,
        comment: &str,
    ) {
        let subject = format!("version {published}: {comment}");
        let before = base.and_then(|v| json(&serde_json::json!({ "version": v })));
        let after = json(&serde_json::json!({ "version": published, "comment": comment }));
        (self.audit(tenant, AuditAction::RulesPublish, subject, before, after)).await;
    }

    /// The published versions, newest first.
    pub async fn rule_versions(&self, tenant: &Tenant) -> Result<Vec<RuleVersion>> {
        Ok(self.store.rule_versions(tenant).await?)
    }

    /// One published version with its rules.
    pub async fn rule_version(
        &self,
        tenant: &Tenant,
        version: i64,
    ) -> Result<(RuleVersion, RuleSetView)> {
        let (info, source) = self
            .store
            .rule_version(tenant, version)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("there is no rule set version {version}")))?;
        Ok((info, RuleSetView::of(source)))
    }

    pub(crate) async fn rule_set_at(&self, tenant: &Tenant, at: RuleSetRef) -> Result<RuleSource> {
        match at {
            RuleSetRef::Version(n) => Ok(self.rule_version(tenant, n).await?.1.source),
            RuleSetRef::Published => self
                .published_source(tenant)
                .await?
                .ok_or_else(|| AppError::NotFound("nothing is published yet".into())),
            RuleSetRef::Draft => (self.store.rule_draft(tenant).await?.value)
                .map(|d| d.source)
                .ok_or_else(|| AppError::NotFound("there is no draft".into())),
        }
    }

    /// What changed from `from` to `to`.
    pub async fn diff_rule_sets(
        &self,
        tenant: &Tenant,
        from: RuleSetRef,
        to: RuleSetRef,
    ) -> Result<RuleSetDiff> {
        let old = self.rule_set_at(tenant, from).await?;
        let new = self.rule_set_at(tenant, to).await?;
        Ok(scimgate_rules::diff(&old, &new))
    }

    /// Makes published version `version` the draft (replacing the draft there is, whose
    /// version `expect` names); publishing it restores it.
    pub async fn restore_rule_version(
        &self,
        tenant: &Tenant,
        version: i64,
        expect: Expect,
    ) -> Result<Versioned<DraftView>> {
        let source = self
            .rule_set_at(tenant, RuleSetRef::Version(version))
            .await?;
        // Based on what is published now: publishing it makes it current again.
        let what = format!("version {version} restored as the draft");
        let done = (AuditAction::RulesRestore, what.as_str());
        self.save_draft(tenant, expect, source, Base::PublishedNow, done)
            .await
    }

    /// How many staged users each rule of the draft or the published set applies to, in
    /// rule order. Evaluates every staged user: a page asks for it, it is not shown by
    /// default.
    pub async fn rule_matches(
        &self,
        tenant: &Tenant,
        of: RuleSetRef,
    ) -> Result<Vec<(String, u64)>> {
        let source = self.rule_set_at(tenant, of).await?;
        Ok(self.syncer.rule_matches(tenant, Some(&source)).await?)
    }

    /// The company's plan with the draft rules; nothing is saved or synced.
    pub async fn preview_draft(&self, tenant: &Tenant) -> Result<scimgate_scheduler::Plan> {
        let draft = self.rule_set_at(tenant, RuleSetRef::Draft).await?;
        self.preview(tenant, Some(&draft)).await
    }
}
