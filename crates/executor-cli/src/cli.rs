//! The command-line interface. Doc comments here are the `--help` text, the
//! man page and the shell completions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use executor_core::agent::AgentKind;

/// Dispatch coding agents (Claude Code, Codex, Gemini CLI, opencode) and shell commands
/// to SSH hosts, containers, Slurm clusters and local processes, then watch, follow,
/// kill and clean them up from one place.
///
/// Tasks outlive this command: each runs under a small runner that records its
/// exit code itself. Exit codes: 0 ok, 1 failure, 2 usage, 3 config, 4 no such
/// task, 5 executor, 6 store, 7 task state, 8 worktree cannot be set up, 9 apply
/// conflict; `wait` exits with the task's code.
#[derive(Debug, Parser)]
#[command(name = "openclaw-agent", version, max_term_width = 100)]
pub struct Cli {
    /// Config file; also $OPENCLAW_CONFIG [default: $XDG_CONFIG_HOME/openclaw/coding-agent.yaml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

// Deferred: a run builds the arguments of its own subcommand only, not of all
// of them (most of a short command's start-up; `--help`, the man page and
// the completions build the whole tree).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Start an agent task (Claude Code, Codex, Gemini CLI or opencode); prints its task id
    Start(StartArgs),
    /// Run a shell command as a task; prints its task id
    Run(RunArgs),
    /// Show one task
    Status(StatusArgs),
    /// Show a task's output
    ///
    /// With several tasks (several ids or a selector), each line is prefixed
    /// with its task's id (the first 8 characters).
    Logs(LogsArgs),
    /// List tasks (🤖 agent, ⚙️ shell command)
    List(ListArgs),
    /// Block until a task ends; exits with the task's exit code
    ///
    /// With several tasks (several ids, or a selector, which picks tasks not ended
    /// unless --status says otherwise): prints one line per task and exits 0 when
    /// all completed, 1 when any did not; with --any, returns when the first ends,
    /// with that task's exit code.
    Wait(WaitArgs),
    /// End a task's whole process tree (SIGTERM, grace period, SIGKILL), also
    /// what an ended task left running
    ///
    /// Several tasks (several ids, or a selector, which picks tasks not ended
    /// unless --status says otherwise) are killed together: one batch per host,
    /// one grace period. A selector matching nothing is an error (exit code 4);
    /// otherwise the exit code is that of the first task that could not be killed.
    Kill(KillArgs),
    /// Show the tasks of a fan-out group side by side (`start --fanout`)
    Compare(CompareArgs),
    /// Show a worktree task's change (its branch against its base)
    Diff(DiffArgs),
    /// Apply a worktree task's change to a local checkout, all or nothing
    Apply(ApplyArgs),
    /// Bring a worktree task's branch, with its commits, into a local repository
    Fetch(FetchArgs),
    /// Remove finished tasks: their directories and index entries
    ///
    /// Selectors pick tasks that have ended (with --force: all that match); a
    /// selection matching nothing is not an error. Removal is one batch per host
    /// and one index transaction.
    Cleanup(CleanupArgs),
    /// Show all tasks: on a terminal an interactive dashboard (also `tui`);
    /// piped, one table; or a JSONL snapshot, or a refreshing table
    ///
    /// The dashboard's keys: ? help, enter detail pane, / search, s e l f filter
    /// by status, executor, label, group, o sort, x kill, c cleanup, R resume
    /// with a new prompt, y copy id, r raw log, d diff, q quit.
    #[command(visible_alias = "tui")]
    Dashboard(DashboardArgs),
    /// Rebuild the task index from the task directories, after the index was
    /// lost or damaged (adds missing tasks, changes none)
    Reindex(ReindexArgs),
    /// List the configured executors with their task counts
    Executors(ExecutorsArgs),
    /// Check the configuration, or write a commented sample with --init
    Config(ConfigArgs),
    /// Run the supervisor in the foreground: reconcile tasks, start queued ones,
    /// write completion records and send webhooks as tasks end
    Daemon(DaemonArgs),
    /// Run the supervisor (as `daemon` does) and serve the web page and the
    /// HTTP API on it; prints the page's address with the access token
    Serve(ServeArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    Man,
    /// Deliver pending completion webhooks (started in the background by other commands)
    #[command(hide = true)]
    DeliverWebhooks,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Executor to run on (see `executors`)
    #[arg(long, short = 'e', required_unless_present_any = ["resume", "label"])]
    pub executor: Option<String>,
    #[command(flatten)]
    pub routing: Routing,
    /// Continue the agent session of this task (same agent, executor and workspace) as a new task
    #[arg(long, value_name = "TASK_ID", conflicts_with_all = ["executor", "workspace", "label"])]
    pub resume: Option<String>,
    /// The prompt, passed to the agent byte-for-byte on stdin (never in argv)
    #[arg(long, short = 'p', required_unless_present = "prompt_file")]
    pub prompt: Option<String>,
    /// Read the prompt from a file ("-" for standard input)
    #[arg(long, value_name = "PATH", conflicts_with = "prompt")]
    pub prompt_file: Option<PathBuf>,
    /// Directory the agent works in, on the executing side [default: the current
    /// directory for local, the login home for ssh, the image's workdir for containers]
    #[arg(long, short = 'w')]
    pub workspace: Option<String>,
    #[command(flatten)]
    pub isolation: Isolation,
    /// Run the prompt as N tasks, each in a worktree of its own, under one group
    /// id (printed first); with --label they spread over the matching executors
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100), conflicts_with_all = ["resume", "no_worktree"])]
    pub fanout: Option<u32>,
    /// Turn limit for the agent [default: defaults.max_turns, 100]; Codex and
    /// opencode have none of their own: their task is ended once its tool
    /// calls pass it
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_turns: Option<u32>,
    /// The agent CLI to run: claude, codex, gemini or opencode [default: the
    /// executor's `agent:`, else defaults.agent, else claude]; with --label
    /// only executors that have it (`agents:`) are chosen
    #[arg(long, value_parser = parse_agent, conflicts_with = "resume")]
    pub agent: Option<AgentKind>,
    /// The model the agent uses (passed to its CLI; also prices the tokens of
    /// CLIs that report no cost)
    #[arg(long, conflicts_with = "resume")]
    pub model: Option<String>,
    /// Kill the task (it ends `failed`, reason `budget exceeded ($X)`) once its
    /// cost passes this many USD [default: the executor's or
    /// defaults.max_budget_usd]
    #[arg(long, value_name = "USD", value_parser = parse_budget)]
    pub max_budget_usd: Option<f64>,
    /// Print a JSON object instead of the bare task id
    #[arg(long)]
    pub json: bool,
}

fn parse_agent(name: &str) -> Result<AgentKind, String> {
    AgentKind::parse(name).ok_or_else(|| {
        format!("unknown agent `{name}` (expected claude, codex, gemini or opencode)")
    })
}

fn parse_budget(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd > 0.0 => Ok(usd),
        _ => Err(format!("`{text}` is not an amount of USD above 0")),
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Executor to run on (see `executors`)
    #[arg(long, short = 'e', required_unless_present_any = ["label", "batch"])]
    pub executor: Option<String>,
    #[command(flatten)]
    pub routing: Routing,
    /// The command, run by /bin/sh exactly as given
    #[arg(long, short = 'c', required_unless_present = "batch")]
    pub cmd: Option<String>,
    /// Dispatch many tasks from a JSONL file ("-": standard input), one task
    /// per line: {"cmd": ...} or {"prompt": ...} / {"prompt_file": ...}, with
    /// "executor" or "label" (a string or a list), "workspace", "priority",
    /// "max_turns", "resume", "agent", "model", "max_budget_usd". Every line
    /// is checked first: a bad one is a one-line error naming it and nothing
    /// is recorded. Prints one id per line. A batch makes no worktrees
    /// (--no-worktree overrides an executor's `isolation: worktree`)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cmd", "executor", "label", "workspace", "worktree", "sync", "base"])]
    pub batch: Option<PathBuf>,
    /// Directory the command runs in, on the executing side [default: the current
    /// directory for local, the login home for ssh, the image's workdir for containers]
    #[arg(long, short = 'w')]
    pub workspace: Option<String>,
    #[command(flatten)]
    pub isolation: Isolation,
    /// Print a JSON object instead of the bare task id
    #[arg(long)]
    pub json: bool,
}

// A git worktree of its own for the task (docs/worktrees.md).
#[derive(Debug, Args)]
pub struct Isolation {
    /// Run in a new git worktree of the workspace's repository, on a branch
    /// `openclaw/<short id>`; the work is committed there when the task ends
    #[arg(long)]
    pub worktree: bool,
    /// Never a worktree, whatever `isolation` the config sets
    #[arg(long, conflicts_with = "worktree")]
    pub no_worktree: bool,
    /// Ship the repository from here (a git bundle over the executor's
    /// connection) and make the worktree from it on the host, which needs no
    /// clone; implies --worktree. The repository is the current directory's
    /// (for `local`: the workspace's; for containers its worktree is made
    /// here and mounted at the workspace, -w)
    #[arg(long, conflicts_with = "no_worktree")]
    pub sync: bool,
    /// The commit, branch or tag the worktree starts from [default: the workspace's HEAD]
    #[arg(long, value_name = "REF", conflicts_with = "no_worktree")]
    pub base: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub id: TaskIdArg,
    /// A summary per file, like `git diff --stat`
    #[arg(long, conflicts_with_all = ["name_only", "json"])]
    pub stat: bool,
    /// Only the names of the changed files
    #[arg(long, conflicts_with = "json")]
    pub name_only: bool,
    /// A JSON object: branch, base, head, files with their counts, and the patch
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The group id `start --fanout` printed
    #[arg(long, short = 'g', value_name = "GROUP")]
    pub group: String,
    /// Print a JSON array, one object per task
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub id: TaskIdArg,
    /// The checkout to apply to [default: the current directory's repository]
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Fall back to a three-way merge where the context differs
    #[arg(long = "3way")]
    pub three_way: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub id: TaskIdArg,
    /// The repository to fetch into [default: the current directory's repository]
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
}

// Choosing an executor by labels, and the task's place in the queue.
#[derive(Debug, Clone, Args)]
pub struct Routing {
    /// Instead of --executor: run on an executor carrying this label (repeatable;
    /// all must match); the least loaded one with a free slot is chosen
    #[arg(long, short = 'l', value_name = "LABEL", conflicts_with = "executor")]
    pub label: Vec<String>,
    /// When the executor is full, higher priorities start first (default 0)
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i32,
}

#[derive(Debug, Args)]
pub struct TaskIdArg {
    /// Task id, its short handle (the ID column of `list`), or any unique part
    /// of the id of at least 4 characters (a prefix is tried first)
    #[arg(long = "task-id", short = 't', value_name = "ID")]
    pub task_id: String,
}

// The tasks a bulk command acts on: ids, or selectors (not both).
#[derive(Debug, Args)]
pub struct TaskSelection {
    /// Task id, its short handle (the ID column of `list`), or any unique part
    /// of the id of at least 4 characters (a prefix is tried first); repeatable
    #[arg(long = "task-id", short = 't', value_name = "ID")]
    pub task_id: Vec<String>,
    /// Every task (narrowed by the selectors below when given with them)
    #[arg(long, conflicts_with = "task_id")]
    pub all: bool,
    /// Only tasks with this status
    #[arg(long, short = 's', conflicts_with = "task_id")]
    pub status: Option<StatusFilter>,
    /// Only tasks of this executor
    #[arg(long, short = 'e', value_name = "NAME", conflicts_with = "task_id")]
    pub executor: Option<String>,
    /// Only tasks of the executors carrying this label
    #[arg(long, value_name = "LABEL", conflicts_with = "task_id")]
    pub label: Option<String>,
    /// Only tasks of this fan-out group
    #[arg(long, value_name = "GROUP", conflicts_with = "task_id")]
    pub group: Option<String>,
    /// Only tasks that ended at least DUR ago (live ones: created at least DUR
    /// ago), as seconds or with a unit: 90s, 10m, 2h, 7d
    #[arg(long, value_name = "DUR", conflicts_with = "task_id")]
    pub older_than: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub id: TaskIdArg,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub tasks: TaskSelection,
    /// Show the last N lines
    #[arg(long, short = 'n', default_value_t = 50, value_name = "N")]
    pub lines: usize,
    /// Keep printing new output for up to SECS seconds, or until the task ends
    /// (no value or 0: until the task ends)
    #[arg(long, short = 'f', value_name = "SECS", num_args = 0..=1, default_missing_value = "0")]
    pub follow: Option<u64>,
    /// Agent tasks: print the raw stream-json lines, byte for byte, instead of the readable
    /// rendering (which shows control and bidi characters as escapes such as \e)
    #[arg(long)]
    pub raw: bool,
    /// Agent tasks: show the agent's own session transcript (Claude Code's
    /// ~/.claude/projects/..., Codex's rollout file, Gemini CLI's chat
    /// recording, `opencode export`), read on the executing host; with
    /// --raw as it is stored
    #[arg(long, conflicts_with_all = ["follow"])]
    pub transcript: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    Queued,
    Pending,
    Running,
    Completed,
    Failed,
    Killed,
    Lost,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tasks with this status
    #[arg(long, short = 's')]
    pub status: Option<StatusFilter>,
    /// Only tasks of this executor
    #[arg(long, short = 'e')]
    pub executor: Option<String>,
    /// Only the tasks of this fan-out group (`start --fanout`)
    #[arg(long, short = 'g', value_name = "GROUP")]
    pub group: Option<String>,
    /// Print a JSON array
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// Print one JSON object per line
    #[arg(long)]
    pub jsonl: bool,
    /// Print what the index holds without reading live tasks back from their
    /// executors first (at once when a host is slow or down; the states of
    /// live tasks are those last seen)
    #[arg(long)]
    pub no_refresh: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub tasks: TaskSelection,
    /// With several tasks: return as soon as one of them has ended
    #[arg(long)]
    pub any: bool,
    /// Give up after S seconds (exit code 124; 5 if the host cannot be reached then)
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    #[command(flatten)]
    pub tasks: TaskSelection,
    /// Seconds between SIGTERM and SIGKILL
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub grace: f64,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub tasks: TaskSelection,
    /// Remove every task that has ended (skipping, with a warning, those whose
    /// processes still run and worktree tasks whose work was neither fetched
    /// nor applied); the same as --all, without --force
    #[arg(long, conflicts_with_all = ["task_id", "force"])]
    pub finished: bool,
    /// Remove orphan task dirs: dirs under tasks/ that no index row names, with
    /// no .meta.json and no live process (left by a dispatch killed before it
    /// recorded the task)
    #[arg(long, conflicts_with_all = ["task_id", "all", "finished", "status", "executor", "label", "group", "older_than", "force"])]
    pub orphans: bool,
    /// Kill tasks first if they, or something they left, still run (with
    /// selectors: live tasks are selected too), and remove worktree work that
    /// was neither fetched nor applied
    #[arg(long)]
    pub force: bool,
    /// Seconds between SIGTERM and SIGKILL when --force kills
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub grace: f64,
    /// Keep a worktree task's branch (the worktree itself is removed)
    #[arg(long)]
    pub keep_branch: bool,
}

#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Print a JSON object: the added task ids, how many were already indexed,
    /// and the directories skipped with the reason
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Print a JSONL snapshot of all tasks and exit
    #[arg(long, conflicts_with = "watch")]
    pub stream: bool,
    /// Redraw a table of all tasks every SECS seconds (Ctrl-C ends)
    #[arg(long, value_name = "SECS")]
    pub watch: Option<f64>,
    /// With --watch: stop after N refreshes
    #[arg(long, value_name = "N", requires = "watch")]
    pub count: Option<u64>,
    /// Interactive dashboard: seconds between two reconciliations of each executor
    #[arg(long, default_value_t = 2.0, value_name = "SECS", conflicts_with_all = ["stream", "watch"])]
    pub interval: f64,
    /// With --stream or --watch, or piped: show what the index holds without
    /// reading live tasks back from their executors first
    #[arg(long)]
    pub no_refresh: bool,
}

#[derive(Debug, Args)]
pub struct ExecutorsArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Probe every executor (reachable, engine up, and the version of each agent
    /// CLI it lists or runs by default; a missing one is a warning `!`)
    #[arg(long)]
    pub check: bool,
    /// With --check: seconds to wait for each probe
    #[arg(long, default_value_t = 15.0, value_name = "SECS", requires = "check")]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Seconds between two rounds of reconciling, dispatching and notifying
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub interval: f64,
    /// Also serve the web page and HTTP API on ADDR (as `serve` does); an
    /// address other than loopback is reachable from other machines (use a
    /// TLS reverse proxy, see docs/web.md)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve on; an address other than loopback is reachable from
    /// other machines (use a TLS reverse proxy, see docs/web.md)
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub listen: String,
    /// Seconds between two rounds of reconciling, dispatching and notifying
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub interval: f64,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ConfigArgs {
    /// Write a commented sample config to the config path
    #[arg(long)]
    pub init: bool,
    /// With --init: overwrite an existing file
    #[arg(long, requires = "init")]
    pub force: bool,
    #[command(subcommand)]
    pub action: Option<ConfigAction>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the config and summarise it (the default)
    Check,
    /// Print the path of the config file in use
    Path,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
