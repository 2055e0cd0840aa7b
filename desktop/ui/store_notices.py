"""What the agent reads about the local data file at start: set aside, fallback in use, outcomes moved back.

The events come from desktop/services/store_recovery.py (SetAside, UsingFallback, MovedBack); this module
only words them, in the panel's language.
"""

from __future__ import annotations

from desktop.ui.i18n import Texts


def _count(texts: Texts, n: int, *, floor: bool) -> str:
    return (texts.translate("Messages", "at least %1") if floor else "%1").replace("%1", str(n))


def describe_store_event(event, texts: Texts) -> str:
    kind = type(event).__name__
    if kind == "SetAside":
        return _set_aside(event, texts)
    if kind == "UsingFallback":
        return _using_fallback(event, texts)
    if kind == "MovedBack":
        return _moved_back(event, texts)
    return ""


def _moved_back(event, texts: Texts) -> str:
    parts = []
    if event.undelivered:
        parts.append(texts.translate(
            "Messages", "%1 outcome(s) saved while the data folder was unavailable were moved back and will "
                        "be sent.").replace("%1", str(event.undelivered)))
    elif event.added:
        parts.append(texts.translate("Messages", "%1 outcome(s) saved while the data folder was unavailable were "
                                                 "moved back.").replace("%1", str(event.added)))
    if event.call_results:
        parts.append(texts.translate(
            "Messages", "%1 outbound call result(s) saved while the data folder was unavailable were moved back "
                        "and will be sent.").replace("%1", str(event.call_results)))
    return " ".join(parts)


def _set_aside(event, texts: Texts) -> str:
    moved = str(event.moved_to)
    if event.empty:
        parts = [texts.translate("Messages", "The local data file was found empty (0 bytes). It was set aside as "
                                             "%1 and a new one started.").replace("%1", moved)]
    else:
        parts = [texts.translate("Messages", "The local data file was damaged. It was set aside as %1 and a new "
                                             "one started.").replace("%1", moved)]
    floor = not event.complete
    if event.undelivered and event.call_results:
        parts.append(texts.translate(
            "Messages", "It holds %1 outcome(s) and %2 outbound call result(s) not yet sent to the server. To send "
                        "them, run: callcue store rescue \"%3\" (or tell IT).")
            .replace("%1", _count(texts, event.undelivered, floor=floor))
            .replace("%2", _count(texts, event.call_results, floor=floor)).replace("%3", moved))
    elif event.undelivered:
        parts.append(texts.translate(
            "Messages", "It holds %1 outcome(s) not yet sent to the server. To send them, run: callcue store "
                        "rescue \"%2\" (or tell IT).")
            .replace("%1", _count(texts, event.undelivered, floor=floor)).replace("%2", moved))
    elif event.call_results:
        parts.append(texts.translate(
            "Messages", "It holds %1 outbound call result(s) (no answer, busy …) not yet sent to the server. To "
                        "send them, run: callcue store rescue \"%2\" (or tell IT).")
            .replace("%1", _count(texts, event.call_results, floor=floor)).replace("%2", moved))
    elif event.empty:
        parts.append(texts.translate("Messages", "Nothing could be read back from it: if outcomes were waiting to "
                                                 "be sent, tell IT."))
    elif event.complete:
        parts.append(texts.translate("Messages", "No outcome or call result waiting to be sent was found in it."))
    if event.unreadable:
        parts.append(texts.translate("Messages", "%1 recent outcome(s) in it could not be read: tell IT.")
                     .replace("%1", str(event.unreadable)))
    return " ".join(parts)


def _using_fallback(event, texts: Texts) -> str:
    why = {
        "read_only": texts.translate("Messages", "it is read-only"),
        "disk_full": texts.translate("Messages", "the disk is full"),
        "store_corrupt": texts.translate("Messages", "its data file is damaged and cannot be moved aside"),
    }.get(event.code, texts.translate("Messages", "its data file is locked or cannot be opened"))
    text = texts.translate(
        "Messages", "CallCue cannot use its data folder %1 (%2). Outcomes are saved in %3 for now and moved back "
                    "automatically once the folder can be used again.") \
        .replace("%1", str(event.wanted.parent)).replace("%2", why).replace("%3", str(event.fallback.parent))
    if event.temporary:
        text += " " + texts.translate("Messages", "That is a temporary folder: tell IT before restarting the "
                                                  "computer.")
    return text
