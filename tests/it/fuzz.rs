//! Bounded fuzzing of the configuration loader (see `fuzz_support.rs`): a few hundred mutated
//! configurations per test run must load without panicking. The long run is
//! `cargo bench --bench fuzz_config -- --seconds 600`.

use cutover::providers::Registry;

use crate::fuzz_support::{Rng, mutate, run_one, scratch_dir, seeds};

#[test]
fn mutated_configurations_never_panic_the_loader() {
    let seeds = seeds();
    let registry = Registry::builtin();
    let scratch = scratch_dir("test");
    let mut rng = Rng::new(0x5eed_c0de);
    for _ in 0..400 {
        let input = mutate(&mut rng, &seeds);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_one(&scratch, &input, &registry);
        }));
        if outcome.is_err() {
            let saved = scratch.join("crash.hcl");
            std::fs::write(&saved, &input).ok();
            panic!(
                "the loader panicked on an input saved at {}",
                saved.display()
            );
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
}
