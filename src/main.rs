/// mimalloc instead of the system allocator: the request path allocates and frees many
/// small objects, and glibc's allocator spent a tenth of the HTTP workers' time on them
/// (consolidating its free lists whenever a request's handler future was boxed). Built
/// without transparent huge pages, which would otherwise double an idle server's memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    herald::cli::run()
}
