//! The `cutover` binary: parse the command line, run, map the outcome to an exit code.

/// mimalloc instead of glibc's allocator: a plan of 10,000 instances spends much of its time
/// allocating and freeing small values (`cargo bench --bench plan` measures both).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cutover::cli::run_from_env());
}
