//! Rules evaluation benchmark (issue 3): N synthetic Entra users through rules/bench.yaml
//! (20 rules, 5 with Rhai), single-threaded, and the same users through a hand-written
//! native Rust version of those rules, in the same run. The two must agree on every
//! user's settings, so the ratio compares equal work. Prints figures; asserts no time.

mod native;
mod users;

use anyhow::{bail, Context};
use clap::Parser;
use scimgate_rules::{AccountSettings, Catalog, RuleSet, UserInput};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// The allocator of the `scimgate` binary, so the rules run here as they do in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Timed rounds of each; the best round is reported (the machine is shared).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_os_t = repo_path("rules/bench.yaml"))]
    rules: PathBuf,
    #[arg(long, default_value_os_t = repo_path("rules/catalog.yaml"))]
    catalog: PathBuf,
}

fn repo_path(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    path.canonicalize().unwrap_or(path)
}

/// What one evaluation decides, as both versions report it.
type Decision = (AccountSettings, bool);

/// The rule set over every user, single-threaded, settings only (`RuleSet::decide`, what
/// a sync run uses): the same work as the native version.
fn run_rules(set: &RuleSet, users: &[UserInput]) -> anyhow::Result<(Duration, Vec<Decision>)> {
    let mut out = Vec::with_capacity(users.len());
    let start = Instant::now();
    for user in users {
        let evaluation = set.decide(black_box(user));
        if let Some(error) = evaluation.errors.first() {
            bail!(
                "rule {:?} failed for {}: {}",
                error.rule,
                user.user["userName"],
                error.message
            );
        }
        out.push((evaluation.settings, evaluation.synced));
    }
    Ok((start.elapsed(), out))
}

fn run_native(users: &[UserInput]) -> (Duration, Vec<Decision>) {
    let mut out = Vec::with_capacity(users.len());
    let start = Instant::now();
    for user in users {
        let outcome = native::evaluate(black_box(user));
        out.push((outcome.settings, outcome.synced));
    }
    (start.elapsed(), out)
}

fn per_second(users: usize, time: Duration) -> String {
    let rate = users as f64 / time.as_secs_f64();
    if rate >= 1e6 {
        format!("{:.2} M users/s", rate / 1e6)
    } else {
        format!("{:.0} k users/s", rate / 1e3)
    }
}

fn ms(time: Duration) -> String {
    format!("{:.1} ms", time.as_secs_f64() * 1e3)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let catalog_text = std::fs::read_to_string(&args.catalog)
        .with_context(|| format!("reading {}", args.catalog.display()))?;
    let catalog = Catalog::from_yaml(&catalog_text).map_err(anyhow::Error::msg)?;
    let load_start = Instant::now();
    let set = RuleSet::load_file(&args.rules, Some(&catalog)).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    })?;
    let load_time = load_start.elapsed();

    let gen_start = Instant::now();
    let users = users::generate(args.users, args.seed);
    let groups: usize = users.iter().map(|u| u.groups.len()).sum();
    println!(
        "{} users ({:.1} groups each on average, generated in {}), {} rules from {} (loaded and compiled in {})",
        users.len(),
        groups as f64 / users.len().max(1) as f64,
        ms(gen_start.elapsed()),
        set.len(),
        args.rules.display(),
        ms(load_time),
    );

    let mut best_rules = Duration::MAX;
    let mut best_native = Duration::MAX;
    let mut checked = false;
    let mut disagreement = None;
    for round in 1..=args.rounds.max(1) {
        let (rules_time, by_rules) = run_rules(&set, &users)?;
        let (native_time, by_native) = run_native(&users);
        if !checked {
            // Timed anyway, so a disagreement still shows the figures; the run fails at
            // the end.
            disagreement = compare(&users, &by_rules, &by_native).err();
            summary(&by_rules);
            checked = true;
        }
        drop((by_rules, by_native));
        println!(
            "round {round}: rules {} ({}), native {} ({}), ratio {:.1}×",
            ms(rules_time),
            per_second(users.len(), rules_time),
            ms(native_time),
            per_second(users.len(), native_time),
            rules_time.as_secs_f64() / native_time.as_secs_f64(),
        );
        best_rules = best_rules.min(rules_time);
        best_native = best_native.min(native_time);
    }
    // With the explanation of every value, as `rules eval` and a one-user preview show it.
    let mut best_explained = Duration::MAX;
    for _ in 1..=args.rounds.max(1) {
        let start = Instant::now();
        for user in &users {
            black_box(set.evaluate(black_box(user)));
        }
        best_explained = best_explained.min(start.elapsed());
    }
    println!(
        "rules with explanation (RuleSet::evaluate), single-threaded: best {} ({})",
        ms(best_explained),
        per_second(users.len(), best_explained),
    );
    // Planning a whole company's sync uses `decide_all`, on every core of the machine.
    let mut best_parallel = Duration::MAX;
    for _ in 1..=args.rounds.max(1) {
        let start = Instant::now();
        let all = set.decide_all(black_box(&users));
        best_parallel = best_parallel.min(start.elapsed());
        anyhow::ensure!(all.len() == users.len(), "decide_all lost users");
    }
    println!(
        "rules on all {} cores (RuleSet::decide_all): best {} ({})",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        ms(best_parallel),
        per_second(users.len(), best_parallel),
    );
    let ratio = best_rules.as_secs_f64() / best_native.as_secs_f64();
    println!(
        "best: rules {} ({}), native {} ({}), ratio rules/native {:.1}×",
        ms(best_rules),
        per_second(users.len(), best_rules),
        ms(best_native),
        per_second(users.len(), best_native),
        ratio,
    );
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "targets (issue 3, for 100,000 users): ≤ 1 s — single-threaded {}, all cores {}; within 10× of native (single-threaded both) — {}",
        verdict(best_rules <= Duration::from_secs(1) || users.len() != 100_000),
        verdict(best_parallel <= Duration::from_secs(1) || users.len() != 100_000),
        verdict(ratio <= 10.0),
    );
    match disagreement {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Every user must get the same settings from both versions.
fn compare(
    users: &[UserInput],
    by_rules: &[Decision],
    by_native: &[Decision],
) -> anyhow::Result<()> {
    let mismatches: Vec<usize> = (0..users.len())
        .filter(|&i| by_rules[i] != by_native[i])
        .collect();
    if let Some(&first) = mismatches.first() {
        println!(
            "THE RULE SET AND THE NATIVE VERSION DISAGREE on {} users: the figures below compare unequal work",
            mismatches.len()
        );
        bail!(
            "{} of {} users differ between the rule set and the native version; first:\nuser {}\ngroups {:?}\nrules  {:?}\nnative {:?}",
            mismatches.len(),
            users.len(),
            users[first].user,
            users[first]
                .groups
                .iter()
                .map(|g| g.display_name.as_str())
                .collect::<Vec<_>>(),
            by_rules[first],
            by_native[first],
        );
    }
    println!(
        "rule set and native version agree on all {} users",
        users.len()
    );
    Ok(())
}

/// How the users spread over the outcomes, to show the rules do varied work.
fn summary(decisions: &[Decision]) {
    let mut plans: Vec<(String, usize)> = Vec::new();
    let mut roles: Vec<(String, usize)> = Vec::new();
    let count = |list: &mut Vec<(String, usize)>, key: &str| match list
        .iter_mut()
        .find(|(k, _)| k == key)
    {
        Some((_, n)) => *n += 1,
        None => list.push((key.to_owned(), 1)),
    };
    let mut synced = 0;
    let mut confidential = 0;
    for (settings, is_synced) in decisions {
        count(&mut plans, settings.user_plan.as_deref().unwrap_or("-"));
        count(&mut roles, settings.role.as_deref().unwrap_or("-"));
        synced += usize::from(*is_synced);
        confidential += usize::from(settings.confidential == Some(true));
    }
    let show = |mut list: Vec<(String, usize)>| {
        list.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        list.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("synced {synced}, confidential {confidential}");
    println!("user plans: {}", show(plans));
    println!("roles: {}", show(roles));
}
