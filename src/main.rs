//! The `cutover` binary: parse the command line, run, map the outcome to an exit code.

fn main() {
    std::process::exit(cutover::cli::run_from_env());
}
