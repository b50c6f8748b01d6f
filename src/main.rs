//! The `hookbridge` binary: everything lives in the library.

/// mimalloc: the request path allocates and frees many small JSON values;
/// measured faster than the system allocator under load (see README, Benchmarks).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookbridge::cli::main()
}
