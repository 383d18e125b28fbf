fn main() -> anyhow::Result<()> {
    herald::cli::run()
}
