//! The `cutover` binary: parse the command line, run, map the outcome to an exit code.

/// mimalloc instead of glibc's allocator: a plan of 10,000 instances spends much of its time
/// allocating and freeing small values (`cargo bench --bench plan` measures both).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // librdkafka allocates with glibc's malloc from each of its many threads (a mirror worker
    // runs a producer and a consumer per lane); glibc gives every thread its own arena, up to
    // eight per core, each holding on to freed memory. Two arenas keep a worker's resident
    // memory near what its buffers hold (measured by scripts/bench-mirror's RSS figures).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any other thread exists; mallopt only sets an allocator option.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    std::process::exit(cutover::cli::run_from_env());
}
