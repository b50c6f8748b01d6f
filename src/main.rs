//! The `hookbridge` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    hookbridge::cli::main()
}
