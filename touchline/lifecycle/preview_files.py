"""A preview written to files: per customer and step, each channel's message as it would
leave, the decision with every reason, and screenshots of the email."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from channels import DirectMessage, EmailMessage, SmsMessage, WhatsAppMessage
from touchline.lifecycle.preview import ChannelRender, StepPreview
from touchline.lifecycle.screenshots import screenshot_html, unavailable


def write_previews(
    out: Path, previews: list[StepPreview], *, screenshots: bool = True
) -> str | None:
    """Write every preview under ``out/<customer>/<step>/``; fills each render's ``files``.
    Returns why screenshots were not taken (None when they were, or not asked for)."""
    pages: list[tuple[ChannelRender, Path]] = []
    for item in previews:
        folder = out / _safe(item.customer_id) / _safe(item.step_id)
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "decision.json", json.dumps(decision_record(item), indent=2, default=str))
        for render in item.channels:
            if render.error is not None:
                render.files["error"] = _write(folder / f"{render.channel}.error.txt", render.error)
                continue
            message = render.message
            if isinstance(message, EmailMessage):
                render.files["subject"] = _write(folder / "email.subject.txt", message.subject)
                render.files["text"] = _write(folder / "email.txt", message.text or "")
                render.files["html"] = _write(folder / "email.html", message.html or "")
                pages.append((render, render.files["html"]))
            elif isinstance(message, SmsMessage):
                render.files["body"] = _write(folder / "sms.txt", message.body)
            elif isinstance(message, WhatsAppMessage):
                render.files["message"] = _write(
                    folder / "whatsapp.json", json.dumps(render.detail, indent=2, default=str)
                )
            elif isinstance(message, DirectMessage):
                render.files["text"] = _write(folder / "x.txt", message.text)
    if not screenshots or not pages:
        return None
    reason = unavailable()
    if reason is not None:
        return reason
    shots = screenshot_html([path for _, path in pages])
    for render, path in pages:
        for width, png in shots.get(path, {}).items():
            render.files[width] = png
    return None


def decision_record(item: StepPreview) -> dict[str, Any]:
    return {
        "customer": item.customer_id,
        "step": item.step_id,
        "locale": item.locale,
        **item.decision.to_record(),
        "channels": {
            r.channel: {"address": r.address, "chosen": r.chosen, "error": r.error, **r.detail}
            for r in item.channels
        },
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", name)[:100] or "_"
