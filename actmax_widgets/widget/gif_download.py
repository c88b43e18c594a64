"""The grid's "Download GIF": the finished run's animation (``ActMaxResult.animation``), sent to
the browser as bytes; a refusal (no run yet, no frames kept) goes back as text on the button."""
from __future__ import annotations


def answer(grid, result, content):
    """Reply to ``{"type": "gif", "position": i}`` (one tile) or ``{"type": "gif"}`` (the grid)."""
    position = content.get("position")
    if position is not None and (not isinstance(position, int) or isinstance(position, bool)):
        return  # not a request this front end sends
    try:
        if result is None:
            raise ValueError("Nothing to animate yet: press Run, and download the GIF when it ends.")
        data = result.animation(position=position)
    except Exception as error:  # noqa: BLE001 — always answer: the button waits for a reply
        grid.send({"type": "gif", "error": str(error) if isinstance(error, ValueError)
                   else f"The GIF could not be made ({type(error).__name__}: {error})."})
        return
    target = None if position is None else result.targets[position]
    grid.send({"type": "gif", "filter": target if isinstance(target, int) else None}, buffers=[data])
