//! Thin entry point: everything lives in the library.
fn main() -> std::process::ExitCode {
    zombie_cleaner::cli::main(std::env::args_os())
}
