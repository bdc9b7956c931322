from throttle.settings import get_settings


def test_defaults_are_sane() -> None:
    settings = get_settings()
    assert settings.requests_per_window > 0
    assert settings.window_seconds > 0
    assert settings.redis_url.startswith("redis://")
