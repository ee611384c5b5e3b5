"""PNG screenshots of an email's HTML as a desktop and a phone mail client would lay it out,
rendered by Chromium (headless, through Playwright): what a marketer checks before a send."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Widths a reader sees: a desktop client's reading pane, and a common phone.
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def unavailable() -> str | None:
    """Why screenshots cannot be taken here (None: they can)."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    return None


def screenshot_html(pages: list[Path]) -> dict[Path, dict[str, Path]]:
    """For each HTML file, ``<name>.desktop.png`` and ``<name>.phone.png`` beside it (full
    page). One browser for all of them. The HTML is opened from disk with the network off:
    a preview must not fetch tracking pixels or count as an open."""
    if not pages:
        return {}
    reason = unavailable()
    if reason is not None:
        raise RuntimeError(f"no screenshots: {reason}")
    from playwright.sync_api import sync_playwright

    shots: dict[Path, dict[str, Path]] = {}
    with sync_playwright() as playwright:
        # Debian's Chromium, not a downloaded build; no sandbox: containers run as root.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            for name, viewport in WIDTHS.items():
                context = browser.new_context(viewport=viewport, offline=True)  # type: ignore[arg-type]
                # Only the file itself: remote images and fonts are not fetched.
                context.route("**/*", _local_only)
                page = context.new_page()
                for html in pages:
                    page.goto(html.resolve().as_uri(), wait_until="load")
                    target = html.with_suffix(f".{name}.png")
                    page.screenshot(path=str(target), full_page=True)
                    shots.setdefault(html, {})[name] = target
                context.close()
        finally:
            browser.close()
    return shots


def _local_only(route: object) -> None:
    request = route.request  # type: ignore[attr-defined]
    if request.url.startswith("file:"):
        route.continue_()  # type: ignore[attr-defined]
    else:
        route.abort()  # type: ignore[attr-defined]
