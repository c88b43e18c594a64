// The elapsed time of the run in progress, counted in the browser from the moment a new
// run_id arrives: it ticks every second even while the kernel is busy cutting the model or
// tracing the step and sends nothing.

/** 7 → "7 s", 65 → "1 min 05 s". */
export function formatElapsed(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  if (whole < 60) return `${whole} s`;
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
}

export class RunClock {
  /** `onTick()` runs every second while a run is busy; `now()` gives milliseconds. */
  constructor(onTick, now = () => performance.now()) {
    this.onTick = onTick;
    this.now = now;
    this.runId = null;
    this.since = null;
    this.timer = null;
  }

  /** Called on every render with the run's id and whether it is still working. */
  update(runId, busy) {
    if (runId !== this.runId) {
      this.runId = runId;
      this.since = busy ? this.now() : null;
    } else if (busy && this.since === null) {
      this.since = this.now();
    }
    if (busy && this.timer === null) this.timer = setInterval(() => this.onTick(), 1000);
    if (!busy) this.stop();
  }

  /** "12 s" while busy, "" otherwise. */
  text() {
    return this.timer !== null && this.since !== null ? formatElapsed((this.now() - this.since) / 1000) : "";
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
