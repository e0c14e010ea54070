pub async fn seed(_engine: &corridor_engine::service::Engine) -> anyhow::Result<()> { Ok(()) }
